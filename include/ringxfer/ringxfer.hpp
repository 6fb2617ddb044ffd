#pragma once
// The whole public API of ringxfer.
#include "ringxfer/address.hpp"
#include "ringxfer/buffer.hpp"
#include "ringxfer/engine.hpp"
#include "ringxfer/error.hpp"
#include "ringxfer/features.hpp"
#include "ringxfer/handles.hpp"
#include "ringxfer/options.hpp"
#include "ringxfer/probe.hpp"
#include "ringxfer/stats.hpp"
#include "ringxfer/transfer.hpp"
#include "ringxfer/version.hpp"
#include "ringxfer/workers.hpp"
