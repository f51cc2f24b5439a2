"""Summing a CuPy network's gradients over the MPI ranks with NCCL, on the GPUs.

Used by ``anynet.distributed.MPIContext`` when every rank has CuPy built with
NCCL and a GPU of its own; everything here is CuPy's ``cupy.cuda.nccl``.
"""
import os


def nccl_candidate(net):
    """(True, (host, GPU's PCI bus id)) if this rank could sum over NCCL, else (False, None)."""
    if net.backend.name != "cupy" or os.environ.get("ANYNET_NCCL", "1") == "0":
        return False, None
    try:
        import cupy
        from cupy.cuda import nccl
        if not getattr(nccl, "available", hasattr(nccl, "NcclCommunicator")):
            return False, None
    except ImportError:
        return False, None
    # the physical GPU: with CUDA_VISIBLE_DEVICES set per rank, every rank's id is 0
    return True, (os.uname().nodename, cupy.cuda.runtime.deviceGetPCIBusId(net.device.id))


class NcclSum:
    """An in-place NCCL sum of one flat contiguous CuPy buffer over all ranks.

    Runs on the current CUDA stream, so the optimizer step after it is ordered
    behind it on the device without a host sync.
    """

    def __init__(self, nccl, communicator, stream=None):
        self.nccl, self.comm = nccl, communicator
        self.dtypes = {"float32": nccl.NCCL_FLOAT32, "float64": nccl.NCCL_FLOAT64}
        self.stream = stream or _current_stream

    def sum(self, flat, dtype):
        """Sum ``flat`` (shape (n,), of ``dtype``: "float32" or "float64") in place."""
        ptr = _pointer(flat)
        self.comm.allReduce(ptr, ptr, flat.shape[0], self.dtypes[dtype],
                            self.nccl.NCCL_SUM, self.stream())


def _pointer(a):
    """The device address of a contiguous CuPy array."""
    return a.data.ptr


def _current_stream():
    import cupy
    return cupy.cuda.get_current_stream().ptr
