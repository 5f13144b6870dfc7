/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <string.h>

#include "failure.h"

#define STR_(x) #x
#define STR(x) STR_(x)

VMMIG_API const char *vmmig_version(void)
{
	return STR(VMMIG_VERSION_MAJOR) "." STR(VMMIG_VERSION_MINOR) "." STR(
		VMMIG_VERSION_PATCH);
}

/* Wording for the errors whose libc text would mislead in this context. */
VMMIG_API const char *vmmig_strerror(int err)
{
	if (err < 0)
		err = -err;
	switch (err) {
	case 0:
		return "success";
	case EPROTO:
		return "malformed or incompatible migration stream";
	case ECANCELED:
		return "migration cancelled";
	case ECONNRESET:
		return "connection to the peer lost";
	case ETIMEDOUT:
		return "peer did not answer in time";
	case EBUSY:
		return "session already started or resource busy";
	case ENOTSUP:
		return "operation not supported by this build or kernel";
	default:
		/* strerror() may share a static buffer across threads in
		 * theory; glibc returns constant strings for known errnos. */
		return strerror(err);
	}
}

const char *failure_text(struct failure *f, const char *cfg_err)
{
	if (failure_code(f))
		return f->msg;
	return cfg_err[0] ? cfg_err : NULL;
}
