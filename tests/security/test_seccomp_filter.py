"""tracer/seccomp.py's filter, run instruction by instruction as the kernel runs it:
for every syscall number, and the arguments its rules look at, it decides as the
policy below says (written out here, not taken from the builder). The kernel's
own answers to real syscalls are tests/security/test_hostile_programs.py's."""

import os
import struct

import pytest

from tracer import seccomp

KILL, EPERM, ALLOW = 0x80000000, 0x00050001, 0x7FFF0000
X86_64, I386 = 0xC000003E, 0x40000003
X32_BIT = 0x40000000
OPEN, OPENAT, FCNTL, PRCTL, PRLIMIT64 = 2, 257, 72, 157, 302
WRITE_FLAGS = (os.O_WRONLY, os.O_RDWR, os.O_CREAT, os.O_TRUNC, os.O_APPEND, 0o20000000)  # the last: O_TMPFILE
READ_FLAGS = (os.O_RDONLY, os.O_RDONLY | os.O_CLOEXEC, os.O_DIRECTORY | os.O_CLOEXEC, os.O_NONBLOCK)
PRCTL_READS = {3, 16, 21, 23, 39}  # PR_GET_DUMPABLE, _NAME, _SECCOMP, PR_CAPBSET_READ, PR_GET_NO_NEW_PRIVS
FCNTL_COMMANDS = {0, 1, 2, 3, 4, 1030}  # F_DUPFD, F_GETFD, F_SETFD, F_GETFL, F_SETFL, F_DUPFD_CLOEXEC
PROGRAM = seccomp.build()


def run(nr, args=(0,) * 6, arch=X86_64, program=PROGRAM):
    """(the filter's return value, instructions it ran) for struct seccomp_data {nr, arch,
    instruction_pointer, args[6]}: classic BPF, the instructions a seccomp filter may use."""
    data = struct.pack("<IIQ6Q", nr, arch, 0, *args)
    accumulator = pc = ran = 0
    while True:
        assert 0 <= pc < len(program) // 8, "ran off the filter"
        code, jump_true, jump_false, k = struct.unpack_from("HBBI", program, pc * 8)
        ran += 1
        if code == 0x06:  # RET K
            return k, ran
        if code == 0x20:  # LD W ABS
            assert k % 4 == 0 and k + 4 <= len(data)
            accumulator = struct.unpack_from("<I", data, k)[0]
            pc += 1
        elif code == 0x05:  # JA
            pc += 1 + k
        else:
            assert code in (0x15, 0x35, 0x25, 0x45), f"instruction {code:#x} is not one the filter should use"
            taken = {0x15: accumulator == k, 0x35: accumulator >= k, 0x25: accumulator > k,
                     0x45: bool(accumulator & k)}[code]  # JEQ, JGE, JGT, JSET (K)
            pc += 1 + (jump_true if taken else jump_false)


def policy(nr, args):
    """What the child may do, as README's seccomp paragraph says it."""
    if nr in seccomp.ALLOWED.values():
        return ALLOW
    low = [arg & 0xFFFFFFFF for arg in args]  # a rule looks at an argument's low 32 bits
    if nr in (OPEN, OPENAT):
        flags = low[1 if nr == OPEN else 2]
        return EPERM if any(flags & flag for flag in WRITE_FLAGS) else ALLOW
    if nr == PRLIMIT64:  # its own limits, read only: pid 0, new NULL
        return ALLOW if low[0] == 0 and args[2] == 0 else EPERM
    if nr == PRCTL:
        return ALLOW if low[0] in PRCTL_READS else EPERM
    if nr == FCNTL:
        return ALLOW if low[1] in FCNTL_COMMANDS else EPERM
    return EPERM


def test_every_syscall_number_is_decided_as_the_policy_says():
    numbers = list(range(1024)) + [X32_BIT - 1, 0xFFFF, 0x3FFF0000]
    wrong = {nr: (hex(run(nr)[0]), hex(policy(nr, (0,) * 6))) for nr in numbers if run(nr)[0] != policy(nr, (0,) * 6)}
    assert not wrong
    # with all arguments 0, open, openat, prlimit64 and fcntl are allowed too (prctl's option 0 is no read)
    assert sum(run(nr)[0] == ALLOW for nr in range(1024)) == len(set(seccomp.ALLOWED.values())) + 4


@pytest.mark.parametrize("nr, flags_at", [(OPEN, 1), (OPENAT, 2)])
def test_open_is_allowed_only_without_a_flag_that_writes(nr, flags_at):
    for flags in WRITE_FLAGS + READ_FLAGS + tuple(flag | os.O_CLOEXEC for flag in WRITE_FLAGS):
        args = [0] * 6
        args[flags_at] = flags
        assert run(nr, args)[0] == policy(nr, args), oct(flags)
    assert run(nr, [0, os.O_WRONLY, os.O_WRONLY, 0, 0, 0])[0] == EPERM


def test_prlimit64_only_reads_its_own_limits():
    assert run(PRLIMIT64, (0, 7, 0, 0x7FFD0000, 0, 0))[0] == ALLOW  # getrlimit: pid 0, new NULL, old set
    assert run(PRLIMIT64, (1, 7, 0, 0x7FFD0000, 0, 0))[0] == EPERM  # another process
    assert run(PRLIMIT64, (0, 7, 0x7FFD0000, 0, 0, 0))[0] == EPERM  # setting
    assert run(PRLIMIT64, (0, 7, 0x7FFD << 32, 0, 0, 0))[0] == EPERM  # setting, the pointer's high half


def test_prctl_and_fcntl_only_for_what_they_may():
    for option in range(64):
        assert run(PRCTL, (option, 0, 0, 0, 0, 0))[0] == policy(PRCTL, (option,) + (0,) * 5), option
    for command in list(range(20)) + [1024, 1030, 1031]:  # F_SETOWN 8, F_SETSIG 10, F_SETLEASE 1024
        assert run(FCNTL, (3, command, 0, 0, 0, 0))[0] == policy(FCNTL, (3, command, 0, 0, 0, 0)), command


def test_another_architecture_or_the_x32_abi_kills():
    assert run(0, arch=I386)[0] == KILL
    assert run(X32_BIT | 0)[0] == KILL
    assert run(X32_BIT | 59)[0] == KILL


def test_a_syscall_is_decided_in_a_few_instructions():
    """A search, not a chain: the kernel runs the filter for every syscall number as it
    installs it (a chain of the allowed numbers ran up to 86 instructions for one)."""
    assert max(run(nr)[1] for nr in range(1024)) <= 24


def test_a_search_too_long_for_conditional_jumps_still_finds_every_number():
    """Past 255 instructions the search jumps unconditionally (BPF_JA), as a longer
    ALLOWED would make it: every number still lands on its own decision."""
    opens = set(range(6, 1200, 30))
    decisions = [(number, seccomp._open_body(1) if number in opens else seccomp._ALLOW) for number in range(0, 1200, 2)]
    search = seccomp._search(decisions)
    assert len(search) > 4 * 255 and any(code == 0x05 for code, *_ in struct.iter_unpack("HBBI", b"".join(search)))
    program = struct.pack("HBBI", 0x20, 0, 0, 0) + b"".join(search)  # the number into the accumulator first
    for number in range(1202):
        decided = run(number, (0, os.O_WRONLY, 0, 0, 0, 0), program=program)[0]
        assert decided == (ALLOW if number < 1200 and number % 2 == 0 and number not in opens else EPERM), number
