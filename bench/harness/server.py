"""What the bench's servers share: a `with` block closes them, and a process they started
is stopped politely first, then for good."""
import subprocess


def stop(proc, grace_s=5):
    """Terminates `proc` if it still runs; kills it when it outlives `grace_s`."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(grace_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class Server:
    """A server for one run; subclasses define close()."""

    def close(self):
        raise NotImplementedError

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
