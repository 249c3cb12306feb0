// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * ClawFS audit: what watched uids (the agents) do outside the mount.
 *
 * Two hooks, both BTF tracepoints (no tracefs, no kprobes, no ftrace trampolines):
 *   tp_btf/sched_process_exec  every successful execve: filename and argv
 *   tp_btf/sys_exit            the return of open, openat, openat2, creat, connect (and failed execve):
 *                              the arguments are still in the saved user registers, and the strings and
 *                              socket addresses were just read by the kernel, so they are resident
 * fentry/fexit and lsm programs (do_sys_openat2, __sys_connect_file, socket_connect) would be
 * cheaper, but kernels locked down like the reference machine refuse them with EPERM; the
 * tracepoints load everywhere BTF exists.
 *
 * Cost for everyone else: sys_exit runs on every syscall's return, so it rejects on the syscall
 * number first (a compare on a register), and on the watched-uid map next; only then is anything
 * copied. The tgids in ignored_tgids (the ClawFS server itself) are never reported.
 *
 * x86-64 only (syscall numbers and registers); 32-bit (ia32) syscalls are decoded too, except
 * socketcall(2). io_uring opens and connects do not pass through syscalls and are not seen.
 *
 * The record layout is mirrored by dev.clawfs.bpf.EventDecoder; the static asserts pin the sizes.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define KIND_EXEC 1
#define KIND_OPEN 2
#define KIND_CONNECT 3

#define PATH_LEN 256
#define ARGS_LEN 256

#define TRUNC_PATH 1      /* path filled the buffer: probably cut */
#define TRUNC_ARGS 2      /* argv longer than the buffer */
#define PATH_UNREADABLE 4 /* the string could not be copied at all */

#define AF_INET 2
#define AF_INET6 10

#define TS_COMPAT 0x0002 /* x86 thread_info.status: the task is in a 32-bit syscall */

#define O_WRONLY 01
#define O_CREAT 0100
#define O_TRUNC 01000

/* x86-64 syscall numbers */
#define NR_OPEN 2
#define NR_CONNECT 42
#define NR_EXECVE 59
#define NR_CREAT 85
#define NR_OPENAT 257
#define NR_EXECVEAT 322
#define NR_OPENAT2 437
/* ia32 syscall numbers */
#define NR32_OPEN 5
#define NR32_CREAT 8
#define NR32_EXECVE 11
#define NR32_OPENAT 295
#define NR32_EXECVEAT 358
#define NR32_CONNECT 362
#define NR32_OPENAT2 437

/* prefixed: vmlinux.h already has OP_OPEN and OP_NONE */
enum clawfs_op {
	CLAWFS_OP_NONE,
	CLAWFS_OP_OPEN,
	CLAWFS_OP_CREAT,
	CLAWFS_OP_OPENAT,
	CLAWFS_OP_OPENAT2,
	CLAWFS_OP_CONNECT,
	CLAWFS_OP_EXECVE,
	CLAWFS_OP_EXECVEAT,
};

struct header {
	__u64 ts_ns;     /* bpf_ktime_get_ns: CLOCK_MONOTONIC */
	__u32 kind;
	__u32 tgid;      /* what user space calls the pid */
	__u32 tid;
	__u32 ppid;
	__u32 uid;       /* real uid and gid */
	__u32 gid;
	__s32 result;    /* 0, an fd, or -errno */
	__u32 marks;     /* TRUNC_* and PATH_UNREADABLE */
	char comm[16];
};

struct exec_event {
	struct header h;
	__u32 args_len;  /* bytes of args used, separators and final NUL included */
	__u32 pad;
	char path[PATH_LEN];
	char args[ARGS_LEN]; /* argv, each argument NUL-ended */
};

struct open_event {
	struct header h;
	__u64 flags;
	char path[PATH_LEN];
};

struct connect_event {
	struct header h;
	__u16 family;
	__u16 port;      /* host byte order */
	__u16 protocol;  /* IPPROTO_TCP, IPPROTO_UDP, ... */
	__u16 pad;
	__u8 addr[16];   /* 4 bytes for AF_INET, 16 for AF_INET6 */
};

_Static_assert(sizeof(struct header) == 56, "header layout is mirrored in Java");
_Static_assert(sizeof(struct exec_event) == 576, "exec layout is mirrored in Java");
_Static_assert(sizeof(struct open_event) == 320, "open layout is mirrored in Java");
_Static_assert(sizeof(struct connect_event) == 80, "connect layout is mirrored in Java");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u8);
} watched_uids SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u8);
} ignored_tgids SEC(".maps");

/* records lost because the ring buffer was full; summed over CPUs by the reader */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} dropped SEC(".maps");

static __always_inline bool watched(void)
{
	__u32 uid = (__u32)bpf_get_current_uid_gid();
	if (!bpf_map_lookup_elem(&watched_uids, &uid))
		return false;
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	return !bpf_map_lookup_elem(&ignored_tgids, &tgid);
}

static __always_inline void *reserve(__u64 size)
{
	void *e = bpf_ringbuf_reserve(&events, size, 0);
	if (!e) {
		__u32 zero = 0;
		__u64 *n = bpf_map_lookup_elem(&dropped, &zero);
		if (n)
			*n += 1; /* per-CPU slot: no other writer */
	}
	return e;
}

static __always_inline void fill_header(struct header *h, __u32 kind, __s32 result)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u64 ug = bpf_get_current_uid_gid();
	struct task_struct *task = bpf_get_current_task_btf();

	h->ts_ns = bpf_ktime_get_ns();
	h->kind = kind;
	h->tgid = id >> 32;
	h->tid = (__u32)id;
	h->ppid = BPF_CORE_READ(task, real_parent, tgid);
	h->uid = (__u32)ug;
	h->gid = ug >> 32;
	h->result = result;
	h->marks = 0;
	bpf_get_current_comm(h->comm, sizeof(h->comm));
}

/* bpf_probe_read_*_str returns the length including the NUL; a full buffer means probably cut */
static __always_inline __u32 string_marks(long n)
{
	if (n < 0)
		return PATH_UNREADABLE;
	return n >= PATH_LEN ? TRUNC_PATH : 0;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(clawfs_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	if (!watched())
		return 0;
	struct exec_event *e = reserve(sizeof(*e));
	if (!e)
		return 0;
	fill_header(&e->h, KIND_EXEC, 0);
	const char *filename = BPF_CORE_READ(bprm, filename);
	long n = bpf_probe_read_kernel_str(e->path, sizeof(e->path), filename);
	e->h.marks |= string_marks(n);
	if (n < 0)
		e->path[0] = 0;

	/* the new image's argv was just copied to its stack by the kernel, so it is resident */
	struct mm_struct *mm = BPF_CORE_READ(p, mm);
	unsigned long start = BPF_CORE_READ(mm, arg_start);
	unsigned long end = BPF_CORE_READ(mm, arg_end);
	unsigned long len = end - start;
	e->args_len = 0;
	e->pad = 0;
	if (end > start) {
		if (len > ARGS_LEN) {
			len = ARGS_LEN;
			e->h.marks |= TRUNC_ARGS;
		}
		/* the mask only convinces the verifier: len is already 1..ARGS_LEN */
		if (bpf_probe_read_user(e->args, ((len - 1) & (ARGS_LEN - 1)) + 1, (const void *)start) == 0)
			e->args_len = len;
	}
	bpf_ringbuf_submit(e, 0);
	return 0;
}

static __always_inline enum clawfs_op op_of(long nr, bool compat)
{
	if (compat) {
		switch (nr) {
		case NR32_OPEN: return CLAWFS_OP_OPEN;
		case NR32_CREAT: return CLAWFS_OP_CREAT;
		case NR32_OPENAT: return CLAWFS_OP_OPENAT;
		case NR32_OPENAT2: return CLAWFS_OP_OPENAT2;
		case NR32_CONNECT: return CLAWFS_OP_CONNECT;
		case NR32_EXECVE: return CLAWFS_OP_EXECVE;
		case NR32_EXECVEAT: return CLAWFS_OP_EXECVEAT;
		}
		return CLAWFS_OP_NONE;
	}
	switch (nr) {
	case NR_OPEN: return CLAWFS_OP_OPEN;
	case NR_CREAT: return CLAWFS_OP_CREAT;
	case NR_OPENAT: return CLAWFS_OP_OPENAT;
	case NR_OPENAT2: return CLAWFS_OP_OPENAT2;
	case NR_CONNECT: return CLAWFS_OP_CONNECT;
	case NR_EXECVE: return CLAWFS_OP_EXECVE;
	case NR_EXECVEAT: return CLAWFS_OP_EXECVEAT;
	}
	return CLAWFS_OP_NONE;
}

/* any number either table knows: the cheap first test every syscall return pays */
static __always_inline bool maybe_interesting(long nr)
{
	switch (nr) {
	case NR_OPEN: case NR_CONNECT: case NR_EXECVE: case NR_CREAT: case NR_OPENAT:
	case NR_EXECVEAT: case NR_OPENAT2: case NR32_OPEN: case NR32_CREAT: case NR32_EXECVE:
	case NR32_OPENAT: case NR32_EXECVEAT: case NR32_CONNECT:
		return true;
	}
	return false;
}

static __always_inline int emit_open(const char *path, __u64 flags, long ret)
{
	struct open_event *e = reserve(sizeof(*e));
	if (!e)
		return 0;
	fill_header(&e->h, KIND_OPEN, (__s32)ret);
	e->flags = flags;
	long n = bpf_probe_read_user_str(e->path, sizeof(e->path), path);
	e->h.marks |= string_marks(n);
	if (n < 0)
		e->path[0] = 0;
	bpf_ringbuf_submit(e, 0);
	return 0;
}

/* a failed execve: the successful ones are reported by clawfs_exec, with their argv */
static __always_inline int emit_failed_exec(const char *path, long ret)
{
	struct exec_event *e = reserve(sizeof(*e));
	if (!e)
		return 0;
	fill_header(&e->h, KIND_EXEC, (__s32)ret);
	e->args_len = 0;
	e->pad = 0;
	long n = bpf_probe_read_user_str(e->path, sizeof(e->path), path);
	e->h.marks |= string_marks(n);
	if (n < 0)
		e->path[0] = 0;
	bpf_ringbuf_submit(e, 0);
	return 0;
}

static __always_inline __u16 socket_protocol(struct task_struct *task, unsigned long fd)
{
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	unsigned int max = BPF_CORE_READ(fdt, max_fds);
	if (fd >= max)
		return 0;
	struct file **fds = BPF_CORE_READ(fdt, fd);
	struct file *file = NULL;
	if (bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]) || !file)
		return 0;
	struct socket *sock = BPF_CORE_READ(file, private_data);
	return BPF_CORE_READ(sock, sk, sk_protocol);
}

static __always_inline int emit_connect(unsigned long fd, const void *uaddr, unsigned long addrlen, long ret)
{
	/* user-space sockaddr_in / sockaddr_in6: family @0, port @2 (big endian), v4 @4, v6 @8 */
	__u8 sa[28] = {};
	if (addrlen < 16 || bpf_probe_read_user(sa, 16, uaddr))
		return 0;
	__u16 family = sa[0] | (sa[1] << 8);
	if (family == AF_INET6) {
		if (addrlen < 28 || bpf_probe_read_user(sa, 28, uaddr))
			return 0;
	} else if (family != AF_INET) {
		return 0; /* unix sockets are local plumbing (nscd, journald), not network */
	}
	struct connect_event *e = reserve(sizeof(*e));
	if (!e)
		return 0;
	fill_header(&e->h, KIND_CONNECT, (__s32)ret);
	e->family = family;
	e->port = (sa[2] << 8) | sa[3];
	e->pad = 0;
	e->protocol = socket_protocol(bpf_get_current_task_btf(), fd);
	__builtin_memset(e->addr, 0, sizeof(e->addr));
	if (family == AF_INET)
		__builtin_memcpy(e->addr, &sa[4], 4);
	else
		__builtin_memcpy(e->addr, &sa[8], 16);
	bpf_ringbuf_submit(e, 0);
	return 0;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(clawfs_syscalls, struct pt_regs *regs, long ret)
{
	long nr = BPF_CORE_READ(regs, orig_ax);
	if (!maybe_interesting(nr))
		return 0;
	if (!watched())
		return 0;
	struct task_struct *task = bpf_get_current_task_btf();
	bool compat = BPF_CORE_READ(task, thread_info.status) & TS_COMPAT;
	enum clawfs_op op = op_of(nr, compat);
	if (op == CLAWFS_OP_NONE)
		return 0;

	/* the syscall's arguments, from the user registers saved at entry (ia32 passes them differently) */
	unsigned long a0, a1, a2;
	if (compat) {
		a0 = (__u32)BPF_CORE_READ(regs, bx);
		a1 = (__u32)BPF_CORE_READ(regs, cx);
		a2 = (__u32)BPF_CORE_READ(regs, dx);
	} else {
		a0 = BPF_CORE_READ(regs, di);
		a1 = BPF_CORE_READ(regs, si);
		a2 = BPF_CORE_READ(regs, dx);
	}

	switch (op) {
	case CLAWFS_OP_OPEN:
		return emit_open((const char *)a0, a1, ret);
	case CLAWFS_OP_CREAT:
		return emit_open((const char *)a0, O_CREAT | O_WRONLY | O_TRUNC, ret);
	case CLAWFS_OP_OPENAT:
		return emit_open((const char *)a1, a2, ret);
	case CLAWFS_OP_OPENAT2: {
		__u64 flags = 0; /* struct open_how begins with __u64 flags */
		bpf_probe_read_user(&flags, sizeof(flags), (const void *)a2);
		return emit_open((const char *)a1, flags, ret);
	}
	case CLAWFS_OP_CONNECT:
		return emit_connect(a0, (const void *)a1, a2, ret);
	case CLAWFS_OP_EXECVE:
		/* a successful execve has replaced the registers; clawfs_exec reported it */
		return ret < 0 ? emit_failed_exec((const char *)a0, ret) : 0;
	case CLAWFS_OP_EXECVEAT:
		return ret < 0 ? emit_failed_exec((const char *)a1, ret) : 0;
	default:
		return 0;
	}
}
