// docs/openapi.yaml, compiled into the programs (CMake writes its text into a generated source
// file at configure time, and re-configures when the file changes), served as
// GET /v1/openapi.yaml so that a client always reads the contract of the build it talks to.
#pragma once

#include <string_view>

namespace aplus {

std::string_view OpenApiDocument();

}  // namespace aplus
