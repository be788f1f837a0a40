"""A real one-node Slurm cluster on 127.0.0.1 for tests (issue 18).

Starts munged (private socket and key), slurmctld and slurmd from a
temporary directory with a generated slurm.conf on free loopback ports, and
waits until `sinfo` shows the node idle.  Everything runs as root
(SlurmUser=root), with proctrack/linuxproc so systemd is not needed.  Stops
the daemons by the pids it started.

Memory: --mem is enforced for real.  Where the cgroup v1 memory controller
is mounted writable (this host), TaskPlugin=task/cgroup puts each job in a
memory cgroup and the kernel's OOM killer ends it: JobState=OUT_OF_MEMORY.
Elsewhere TaskPlugin=task/none and jobacct_gather/linux's OverMemoryKill
SIGKILLs the step: JobState=FAILED and "Exceeded job memory limit" in its
output.  `cluster.oom_state` says which.  Job ids start at a random
FirstJobId, so two clusters on one host never share a job's cgroup path.

Preemption: partition `urgent` has PriorityTier=2, PreemptType=
preempt/partition_prio, PreemptMode=CANCEL: its jobs cancel the jobs of the
other partitions that stand in their way (JobState=PREEMPTED).

Settings are Slurm 22.05's (Debian bookworm slurm-wlm), from its slurm.conf
man page; munged's flags from `munged --help` (munge 0.5.15).

    with SlurmCluster() as c:
        env = c.env()          # SLURM_CONF for sbatch/squeue/... and for kilnd
        subprocess.run(["sinfo"], env=env)
"""
import os
import atexit
import shutil
import signal
import socket
import subprocess
import tempfile
import time

NODE = "kilnnode"
PARTITION = "kiln"
SHORT = "short"   # MaxTime=1 (minute): for jobs asking more, which Slurm leaves pending
URGENT = "urgent"  # PriorityTier=2: its jobs preempt (cancel) jobs of the other partitions


def _cgroup_v1_memory():
    """The cgroup v1 memory controller, writable here: task/cgroup can use it."""
    d = "/sys/fs/cgroup/memory"
    return os.path.isfile(os.path.join(d, "memory.limit_in_bytes")) and os.access(d, os.W_OK)


def _free_ports(n):
    """n distinct free TCP ports on 127.0.0.1 (bound, then released)."""
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


class SlurmCluster:
    def __init__(self, cpus=2, ready_timeout=60):
        self.dir = tempfile.mkdtemp(prefix="kiln-slurm-")
        self.cpus = cpus
        self.procs = []
        self.conf = os.path.join(self.dir, "slurm.conf")
        self.cgroup = _cgroup_v1_memory()
        self.oom_state = "OUT_OF_MEMORY" if self.cgroup else "FAILED"
        self.munge_socket = os.path.join(self.dir, "munge", "munge.socket")
        atexit.register(self.stop)  # a test that crashes leaves no daemons behind
        try:
            self._start(ready_timeout)
        except BaseException:
            self.stop()
            raise

    def env(self, base=None):
        e = dict(os.environ if base is None else base)
        e["SLURM_CONF"] = self.conf
        return e

    def run(self, *argv, check=True):
        r = subprocess.run(list(argv), env=self.env(), capture_output=True, text=True,
                           timeout=30)
        if check and r.returncode != 0:
            raise RuntimeError("%s: %s" % (" ".join(argv), r.stderr.strip()))
        return r

    def _start(self, ready_timeout):
        d = self.dir
        for sub in ("munge", "state", "spool", "log"):
            os.makedirs(os.path.join(d, sub), mode=0o700)
        key = os.path.join(d, "munge", "munge.key")
        with open(key, "wb") as f:
            f.write(os.urandom(1024))
        os.chmod(key, 0o600)
        self._spawn("munged", ["munged", "-F", "-f", "--socket=" + self.munge_socket,
                               "--key-file=" + key,
                               "--pid-file=" + os.path.join(d, "munge", "munged.pid"),
                               "--seed-file=" + os.path.join(d, "munge", "munged.seed"),
                               "--log-file=" + os.path.join(d, "log", "munged.log")])
        # munged is ready when its socket answers; `munge -n` is the client's check
        self._wait(lambda: subprocess.run(["munge", "-n", "-S", self.munge_socket],
                                          capture_output=True).returncode == 0,
                   10, "munged did not answer on " + self.munge_socket)
        # The ports are free when picked but another process on this host
        # (a kilnd binding port 0, another suite's cluster) may take one
        # before slurmctld binds it: then start again on new ports.
        for attempt in range(3):
            try:
                self._start_slurm(ready_timeout)
                return
            except RuntimeError as e:
                if "Address already in use" not in str(e) or attempt == 2:
                    raise
                self._stop_slurm()

    def _start_slurm(self, ready_timeout):
        d = self.dir
        ctld_port, slurmd_port = _free_ports(2)
        self.ctld_port = ctld_port
        conf = """\
ClusterName=kiln
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort={ctld}
SlurmdPort={slurmd}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={sock}
StateSaveLocation={d}/state
SlurmdSpoolDir={d}/spool/%n
SlurmctldPidFile={d}/slurmctld.pid
SlurmdPidFile={d}/slurmd.pid
SlurmctldLogFile={d}/log/slurmctld.log
SlurmdLogFile={d}/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin={task}
FirstJobId={first}
MpiDefault=none
SwitchType=switch/none
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=task=1
{overmem}AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
DefMemPerCPU=1500
ReturnToService=2
MinJobAge=300
KillWait=2
OverTimeLimit=0
PreemptType=preempt/partition_prio
PreemptMode=CANCEL
InactiveLimit=0
NodeName={node} NodeHostname={host} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory=4000 State=UNKNOWN
PartitionName={part} Nodes={node} Default=YES MaxTime=INFINITE PriorityTier=1 State=UP
PartitionName={short} Nodes={node} MaxTime=1 PriorityTier=1 State=UP
PartitionName={urgent} Nodes={node} MaxTime=INFINITE PriorityTier=2 State=UP
""".format(ctld=ctld_port, slurmd=slurmd_port, sock=self.munge_socket, d=d, node=NODE,
           host=socket.gethostname(), cpus=self.cpus, part=PARTITION, short=SHORT, urgent=URGENT,
           task="task/cgroup" if self.cgroup else "task/none",
           overmem="" if self.cgroup else "JobAcctGatherParams=OverMemoryKill\n",
           first=int.from_bytes(os.urandom(3), "big") % 9000000 + 1000000)
        if self.cgroup:
            # cgroup.conf is read from slurm.conf's directory (cgroup.conf(5))
            with open(os.path.join(d, "cgroup.conf"), "w") as f:
                f.write("CgroupPlugin=cgroup/v1\nCgroupMountpoint=/sys/fs/cgroup\n"
                        "ConstrainRAMSpace=yes\nConstrainSwapSpace=yes\nAllowedSwapSpace=0\n")
        with open(self.conf, "w") as f:
            f.write(conf)
        self._spawn("slurmctld", ["slurmctld", "-D", "-i", "-f", self.conf])
        self._spawn("slurmd", ["slurmd", "-D", "-N", NODE, "-f", self.conf])
        self._wait(self._node_idle, ready_timeout,
                   "the node did not become idle in sinfo")

    def _node_idle(self):
        try:
            r = subprocess.run(["sinfo", "-h", "-N", "-o", "%N %t"], env=self.env(),
                               capture_output=True, text=True, timeout=10)
        except subprocess.TimeoutExpired:
            return False  # not answering yet (or not slurmctld on that port): ask again
        # one line per partition the node is in
        lines = set(r.stdout.splitlines()) if r.returncode == 0 else set()
        return lines == {NODE + " idle"}

    def _spawn(self, name, argv):
        log = open(os.path.join(self.dir, "log", name + ".out"), "wb")
        p = subprocess.Popen(argv, env=self.env(), stdin=subprocess.DEVNULL, stdout=log,
                             stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        self.procs.append((name, p))

    def _wait(self, ready, timeout, what):
        """Readiness: asks the daemon itself until it says yes (bounded)."""
        end = time.monotonic() + timeout
        while True:
            for name, p in self.procs:
                if p.poll() is not None:
                    raise RuntimeError("%s exited with %s: %s" % (name, p.returncode,
                                                                 self.logs()))
            if ready():
                return
            if time.monotonic() > end:
                raise RuntimeError(what + ": " + self.logs())
            time.sleep(0.2)

    def logs(self):
        out = []
        ld = os.path.join(self.dir, "log")
        for n in sorted(os.listdir(ld)) if os.path.isdir(ld) else []:
            with open(os.path.join(ld, n), errors="replace") as f:
                out.append("--- %s\n%s" % (n, f.read()[-3000:]))
        return "\n".join(out)

    def _stop_slurm(self):
        """Stops slurmctld and slurmd of a failed start (munged stays)."""
        keep = []
        for name, p in self.procs:
            if name in ("slurmctld", "slurmd"):
                if p.poll() is None:
                    p.kill()
                p.wait()
            else:
                keep.append((name, p))
        self.procs = keep
        for sub in ("state", "spool"):
            shutil.rmtree(os.path.join(self.dir, sub), ignore_errors=True)
            os.makedirs(os.path.join(self.dir, sub), mode=0o700)
        for log in ("slurmctld.log", "slurmd.log"):  # the next failure is read afresh
            try:
                os.unlink(os.path.join(self.dir, "log", log))
            except FileNotFoundError:
                pass

    def stop(self):
        # slurmd first (it ends the job steps it runs), then the controller, then munge
        for name, p in reversed(self.procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        # processes a job left behind (proctrack/linuxproc only tracks descendants)
        self.procs = []
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
