"""Data-parallel training over MPI (mpi4py): ``anynet.train(..., distributed="mpi")``.

Launch one process per rank, each running the same script with the same X and y:

    mpiexec -n 4 python -m mpi4py train_script.py

(``python -m mpi4py`` makes an unhandled exception on any rank abort them all.)
Rank 0's initial weights are broadcast; every global mini-batch (the same
permutation on every rank, from the seed) is split into one contiguous part per
rank; each rank's gradients, weighted by its share of the batch, are summed over
the ranks with one ``Allreduce`` of one flat buffer per step. Every rank then
takes the same optimizer step, so all ranks end with the same parameters, equal
to a single process's run with the same global batch size. Only rank 0 shows
progress and writes checkpoints.

Gradients travel through host memory (NumPy buffers), for every backend; with
CuPy that is one device-to-host and one host-to-device copy per step. NCCL is
not used yet.
"""
import sys
import traceback

import numpy as np

from ._backend import to_numpy


class MPIContext:
    """The communicator and the few collective operations training needs."""

    def __init__(self):
        try:
            from mpi4py import MPI
        except ImportError as exc:
            raise ImportError("distributed='mpi' needs mpi4py and an MPI runtime; "
                              "install anynet[mpi]") from exc
        self.MPI = MPI
        self.comm = MPI.COMM_WORLD
        self.rank, self.size = self.comm.Get_rank(), self.comm.Get_size()

    def broadcast_parameters(self, net):
        """Every rank takes rank 0's parameters."""
        for key, value in net.items():
            host = np.ascontiguousarray(to_numpy(value))
            self.comm.Bcast(host, root=0)
            net[key] = net.xp.asarray(host, device=net.device)

    def part(self, lo, hi):
        """This rank's contiguous share [a, b) of the global batch [lo, hi)."""
        n = hi - lo
        base, extra = divmod(n, self.size)
        a = lo + self.rank * base + min(self.rank, extra)
        return a, a + base + (self.rank < extra)

    def sum_gradients(self, net, grads, weight):
        """grads <- sum over ranks of weight * grads, with one flat Allreduce."""
        keys = list(grads)
        flat = np.concatenate([np.asarray(to_numpy(grads[k])).ravel() for k in keys])
        flat *= weight
        self.comm.Allreduce(self.MPI.IN_PLACE, flat, op=self.MPI.SUM)
        offset = 0
        for key in keys:
            shape = tuple(grads[key].shape)
            size = int(np.prod(shape))
            part = flat[offset:offset + size].reshape(shape)
            grads[key] = net.xp.asarray(part, device=net.device)
            offset += size

    def sum_scalar(self, value):
        return self.comm.allreduce(float(value), op=self.MPI.SUM)

    def abort(self, exc):
        """Stop every rank now: the others would wait forever in the next Allreduce."""
        sys.stderr.write(f"anynet: rank {self.rank} failed, aborting all ranks: {exc!r}\n")
        traceback.print_exc(file=sys.stderr)
        sys.stderr.flush()
        self.comm.Abort(1)
