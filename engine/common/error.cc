#include "error.h"

#include <cstring>

namespace cbtrep
{

void throw_errno(const std::string &context, int err)
{
    throw Error(context + ": " + std::strerror(err), true, err);
}

} // namespace cbtrep
