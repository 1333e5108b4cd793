# A stand-in for PID 1's notify socket: receives sd_notify datagrams and prints one line per
# datagram. It closes file descriptors passed along (systemd-notify's BARRIER=1 waits for that,
# exactly as it waits for systemd).
import array, os, socket, sys

s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print("listening", flush=True)
while True:
    msg, anc, _flags, _addr = s.recvmsg(4096, socket.CMSG_SPACE(16 * 4))
    for level, kind, data in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds = array.array("i")
            fds.frombytes(data[: len(data) - len(data) % 4])
            for fd in fds:
                os.close(fd)
    print(msg.decode().strip().replace("\n", " "), flush=True)
