/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include "toyvmm.h"
static int stub_create(struct toyvm *vm, bool boot) { (void)vm; (void)boot; return -ENOSYS; }
static void stub_destroy(struct toyvm *vm) { (void)vm; }
const struct guest_ops kvmguest_ops = { .name = "kvm", .create = stub_create, .destroy = stub_destroy };
