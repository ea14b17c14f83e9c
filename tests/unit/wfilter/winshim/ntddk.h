#include "ntifs.h"
