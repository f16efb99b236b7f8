#!/usr/bin/env python3
"""Peak memory of the chat client while it sends (and receives) a large file.

Real processes on 127.0.0.1: our smp-server and xftp-server (initialised in a temporary
folder, ports 15223 and 15443), two simplex-chat processes (alice, bob) connected by a one-time
invitation; alice sends the file (/f), bob receives it (/fr); the peak resident memory of each
(VmHWM from /proc/<pid>/status) is printed, and the received file compared.

    cargo build --release -p chat-cli -p smp-server -p xftp-server
    python3 benches/chat_memory.py [SIZE_MIB]      # default 1024 (1 GiB of random bytes)

The target (issue 10): the sender at most 64 MiB while sending 1 GiB. Linux only (/proc).
"""
import os, queue, re, subprocess, sys, tempfile, threading, time, filecmp

BIN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "target", "release")
SIZE_MIB = int(sys.argv[1]) if len(sys.argv) > 1 else 1024


def run(cmd, env, **kw):
    return subprocess.Popen(cmd, env=dict(os.environ, **env), **kw)


class Client:
    def __init__(self, name, smp, xftp, root):
        self.name = name
        self.p = subprocess.Popen(
            [os.path.join(BIN, "simplex-chat"), "-d", os.path.join(root, name), "-s", smp,
             "--xftp-server", xftp, "--create-bot-display-name", name,
             "--create-bot-allow-files", "--files-folder", os.path.join(root, "out")],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, bufsize=1)
        self.lines = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.p.stdout:
            self.lines.put(line.rstrip("\n"))

    def send(self, line):
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()

    def until(self, pattern, timeout=300):
        end = time.time() + timeout
        while time.time() < end:
            try:
                line = self.lines.get(timeout=1)
            except queue.Empty:
                continue
            if re.search(pattern, line):
                return line
        raise SystemExit(f"{self.name}: never printed {pattern!r}")

    def peak_mib(self):
        with open(f"/proc/{self.p.pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM"):
                    return int(line.split()[1]) / 1024
        return float("nan")


def main():
    root = tempfile.mkdtemp(prefix="chat-memory-")
    procs = []
    try:
        smp_cfg, xftp_cfg = os.path.join(root, "smp"), os.path.join(root, "xftp")
        files = os.path.join(root, "files")
        for d in (smp_cfg, xftp_cfg, files, os.path.join(root, "out")):
            os.makedirs(d)
        smp_env = {"SMP_SERVER_CFG_PATH": smp_cfg, "SMP_SERVER_LOG_PATH": smp_cfg}
        xftp_env = {"XFTP_SERVER_CFG_PATH": xftp_cfg, "XFTP_SERVER_LOG_PATH": xftp_cfg}
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        run([os.path.join(BIN, "smp-server"), "init", "--ip", "127.0.0.1"], smp_env, **quiet).wait()
        run([os.path.join(BIN, "xftp-server"), "init", "--ip", "127.0.0.1", "-p", files,
             "-q", "100gb"], xftp_env, **quiet).wait()
        for ini, old, new in ((os.path.join(smp_cfg, "smp-server.ini"), "port = 5223,443", "port = 15223"),
                              (os.path.join(xftp_cfg, "file-server.ini"), "port = 443", "port = 15443")):
            text = open(ini).read().replace(old, new, 1)
            open(ini, "w").write(text)
        smp = "smp://" + open(os.path.join(smp_cfg, "fingerprint")).read().strip() + "@127.0.0.1:15223"
        xftp = "xftp://" + open(os.path.join(xftp_cfg, "fingerprint")).read().strip() + "@127.0.0.1:15443"
        procs.append(run([os.path.join(BIN, "smp-server"), "start"], smp_env, **quiet))
        procs.append(run([os.path.join(BIN, "xftp-server"), "start"], xftp_env, **quiet))
        src = os.path.join(root, "big.bin")
        with open(src, "wb") as f:
            for _ in range(SIZE_MIB):
                f.write(os.urandom(1 << 20))
        time.sleep(1)
        alice, bob = Client("alice", smp, xftp, root), Client("bob", smp, xftp, root)
        procs += [alice.p, bob.p]
        alice.send("/c")
        link = alice.until(r"^https://\S+/i#")
        bob.send("/c " + link.strip())
        alice.until("contact is connected")
        bob.until("contact is connected")
        print(f"connected: alice {alice.peak_mib():.1f} MiB, bob {bob.peak_mib():.1f} MiB")
        start = time.time()
        alice.send(f"/f @bob {src}")
        bob.until("sends file big.bin")
        bob.send("/fr 1 " + os.path.join(root, "out") + "/")
        alice.until("completed uploading file")
        print(f"uploaded in {time.time() - start:.1f} s: alice (sending) peak {alice.peak_mib():.1f} MiB")
        bob.until("completed receiving file")
        print(f"received in {time.time() - start:.1f} s: bob (receiving) peak {bob.peak_mib():.1f} MiB")
        same = filecmp.cmp(src, os.path.join(root, "out", "big.bin"), shallow=False)
        print("the file:", "byte-identical" if same else "DIFFERENT")
    finally:
        for p in procs:
            p.kill()
        subprocess.run(["rm", "-rf", root])


if __name__ == "__main__":
    main()
