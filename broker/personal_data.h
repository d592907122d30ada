// The rules of what is personal data live in common/personal_data.h since the gateways apply
// them too; this header stays for the broker's includes.
#pragma once

#include "common/personal_data.h"
