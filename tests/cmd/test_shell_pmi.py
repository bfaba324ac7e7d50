"""The job shell's PMI-1 server: Python tasks speaking PMI by hand, an MPICH program
built here (skipped without ``mpicc``), ``-o pmi=``, PMI_Abort and protocol errors."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.timeout(120)

CLIENT = textwrap.dedent("""\
    import os, sys
    from flux.pmi.client import from_environ
    c = from_environ(os.environ)
    c.init()
    r, s = c.rank, c.size
    c.put(f"key{r}", f"value {r}")
    c.barrier()
    got = [c.get(f"key{i}") for i in range(s)]
    c.barrier()
    print(r, s, c.kvsname, c.get("PMI_process_mapping"),
          c.get("flux.taskmap"), c.get("flux.instance-level"), ",".join(got))
    c.finalize()
    """)


@pytest.fixture
def script(tmp_path):
    def write(text: str) -> str:
        path = tmp_path / "task.py"
        path.write_text(text)
        return str(path)
    return write


def test_python_tasks_exchange_through_the_pmi_kvs(shared_instance, script) -> None:
    r = shared_instance.run("run", "-n2", sys.executable, script(CLIENT))
    assert r.returncode == 0, r.stderr
    lines = sorted(r.stdout.splitlines())
    assert len(lines) == 2, r.stdout
    for rank, line in enumerate(lines):
        words = line.split(" ", 6)
        assert words[0:2] == [str(rank), "2"]
        assert words[2].startswith("ƒ")  # the job's f58 id, as flux-core's shell names it
        assert words[3] == "(vector,(0,1,2))"
        assert words[4] == '{"version":1,"map":[[0,1,2,1]]}'
        assert words[5] == "1"  # one deeper than the test instance (level 0)
        assert words[6] == "value 0,value 1"


def test_task_pmi_environment(shared_instance) -> None:
    r = shared_instance.run("run", "-n2", "sh", "-c",
                            'echo $PMI_RANK $PMI_SIZE; readlink /proc/$$/fd/$PMI_FD')
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert sorted(line for line in lines if " " in line) == ["0 2", "1 2"]
    assert sum(line.startswith("socket:[") for line in lines) == 2


def test_pmi_off(shared_instance) -> None:
    r = shared_instance.run("run", "-o", "pmi=off", "sh", "-c", 'echo "[$PMI_FD$PMI_RANK]"')
    assert r.returncode == 0, r.stderr
    assert r.stdout == "[]\n"
    r = shared_instance.run("run", "-o", "pmi=foo,pmi1", "sh", "-c", 'echo "[$PMI_RANK]"')
    assert r.stdout == "[0]\n"


def test_pmi_abort_raises_an_exec_exception(shared_instance, script) -> None:
    path = script(textwrap.dedent("""\
        import os, time
        from flux.pmi.client import from_environ
        c = from_environ(os.environ)
        c.init()
        if c.rank == 1:
            c.abort(3, "giving up")
        time.sleep(60)
        """))
    r = shared_instance.run("run", "-n2", sys.executable, path, timeout=60)
    assert r.returncode != 0
    assert "PMI_Abort: giving up" in r.stderr


def test_protocol_error_ends_the_job(shared_instance) -> None:
    r = shared_instance.run("run", "sh", "-c", 'echo garbage >&$PMI_FD; sleep 60', timeout=60)
    assert r.returncode != 0
    assert "PMI-1 wire protocol error" in r.stderr


def test_mpich_hello(shared_instance, tmp_path) -> None:
    mpicc = shutil.which("mpicc")
    if mpicc is None:
        pytest.skip("mpicc is not installed (.ci/run installs mpich)")
    src = tmp_path / "hello.c"
    src.write_text(textwrap.dedent("""\
        #include <mpi.h>
        #include <stdio.h>
        int main (int argc, char **argv) {
            int rank, size, sum = 0;
            MPI_Init (&argc, &argv);
            MPI_Comm_rank (MPI_COMM_WORLD, &rank);
            MPI_Comm_size (MPI_COMM_WORLD, &size);
            MPI_Allreduce (&rank, &sum, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
            printf ("rank %d size %d sum %d\\n", rank, size, sum);
            MPI_Finalize ();
            return 0;
        }
        """))
    exe = tmp_path / "hello"
    subprocess.run([mpicc, "-o", str(exe), str(src)], check=True, timeout=120)
    r = shared_instance.run("run", "-n2", str(exe), timeout=60)
    assert r.returncode == 0, r.stderr
    assert sorted(r.stdout.splitlines()) == ["rank 0 size 2 sum 1", "rank 1 size 2 sum 1"]


def test_broker_as_a_job_is_a_nested_instance(shared_instance) -> None:
    """``flux run flux broker CMD``: the broker boots from the shell's PMI, takes the
    job's id and R from the enclosing instance and keeps its job variables away from
    its own commands (as flux-core's broker)."""
    r = shared_instance.run(
        "run", "-n1", shared_instance.flux, "broker", "sh", "-c",
        "flux getattr jobid; flux getattr instance-level; flux getattr parent-uri; "
        "flux getattr parent-kvs-namespace; echo $FLUX_ENCLOSING_ID "
        "${FLUX_KVS_NAMESPACE:-none}; flux resource list -no {ncores}; "
        "flux run echo inner", timeout=90)
    assert r.returncode == 0, r.stderr
    jobid, level, parent, ns, env, ncores, inner = r.stdout.splitlines()
    assert jobid.startswith("ƒ") and level == "1" and parent == shared_instance.uri
    assert ns.startswith("job-") and env == f"{jobid} none"
    assert ncores == "1"  # the job's R (one core), not this machine's
    assert inner == "inner"
