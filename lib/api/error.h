// Thread-local error messages behind lowrank_last_error().
//
// Every C entry point either returns LOWRANK_OK after ClearError(), or returns
// the status of Fail(), which records a message for the calling thread.
#ifndef LOWRANK_LIB_API_ERROR_H_
#define LOWRANK_LIB_API_ERROR_H_

#include "lowrank/lowrank.h"

namespace lowrank {

// Records printf-style `format` as the calling thread's last error message
// (truncated to a fixed size) and returns `code`.
lowrank_status_t Fail(lowrank_status_t code, const char* format, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

// Clears the calling thread's last error message; returns LOWRANK_OK.
lowrank_status_t ClearError();

// The calling thread's last error message ("" if none).
const char* LastError();

}  // namespace lowrank

#endif  // LOWRANK_LIB_API_ERROR_H_
