"""deploy/install-deps.sh and the Makefile's package check, on a machine
missing a package.  Packages cannot be removed for a test, so dpkg-query is
played by a stand-in on PATH that reports one package as not installed and
passes every other question to the real one; the script itself, the
non-root path (run as nobody through setpriv) and make are the real ones."""
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "onnx"))
import onnx_fixtures as F  # noqa: E402

R = F.Report("test_install_deps")
GONE = "libcjson-dev"


def fake_dpkg_query(folder):
    path = os.path.join(folder, "dpkg-query")
    with open(path, "w") as f:
        f.write(f"""#!/bin/sh
# stand-in: '{GONE}' is not installed; everything else asks the real dpkg-query
for a in "$@"; do [ "$a" = "{GONE}" ] && {{ echo "dpkg-query: no packages found matching {GONE}" >&2; exit 1; }}; done
exec /usr/bin/dpkg-query "$@"
""")
    os.chmod(path, 0o755)
    os.chmod(folder, 0o755)
    return folder


def env_with(folder):
    return dict(os.environ, PATH=folder + ":" + os.environ.get("PATH", "/usr/bin:/bin"))


def non_root_is_told_the_packages_and_the_command():
    d = fake_dpkg_query(tempfile.mkdtemp(prefix="kiln-deps-"))
    # a copy nobody can read (the clone may sit under root's 0700 home)
    script = os.path.join(d, "install-deps.sh")
    shutil.copy(os.path.join(ROOT, "deploy", "install-deps.sh"), script)
    os.chmod(script, 0o755)
    p = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                        "bash", script, "run"],
                       env=env_with(d), capture_output=True, text=True, timeout=60)
    assert p.returncode == 1, (p.returncode, p.stderr)
    assert f"these Debian packages are missing: {GONE}" in p.stderr, p.stderr
    assert f"sudo apt-get install -y {GONE}" in p.stderr, p.stderr


def list_names_them_without_installing():
    d = fake_dpkg_query(tempfile.mkdtemp(prefix="kiln-deps-"))
    p = subprocess.run(["bash", os.path.join(ROOT, "deploy", "install-deps.sh"), "list"],
                       env=env_with(d), capture_output=True, text=True, timeout=60)
    assert p.returncode == 1 and GONE in p.stderr, (p.returncode, p.stderr)
    assert "installing" not in p.stderr, p.stderr


def all_present_is_silent():
    p = subprocess.run(["bash", os.path.join(ROOT, "deploy", "install-deps.sh"), "run"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and p.stderr == "", (p.returncode, p.stderr)


def plain_make_says_to_run_make_deps():
    # A build whose pkg-config sees no packages (PKG_OK empty) stops with
    # the advice instead of a compiler error about a missing header.
    d = fake_dpkg_query(tempfile.mkdtemp(prefix="kiln-deps-"))
    p = subprocess.run(["make", "--no-print-directory", "-C", ROOT, "pkg-check", "PKG_OK="],
                       env=env_with(d), capture_output=True, text=True, timeout=60)
    assert p.returncode != 0, p.stdout
    assert "run 'make deps'" in p.stderr and GONE in p.stderr, p.stderr


def main():
    for name, fn in [(f.__name__, f) for f in (
            non_root_is_told_the_packages_and_the_command, list_names_them_without_installing,
            all_present_is_silent, plain_make_says_to_run_make_deps)]:
        R.check(name, fn)
    R.done()


if __name__ == "__main__":
    main()
