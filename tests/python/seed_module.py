"""Reference pieces shared by the Python helper scripts of dictlearn.

* ``DictionaryLearning``: the seed's PyTorch module
  (shared/seed/very-simple-dictionary-learning-in-pytorch.md), copied in
  behaviour: ``dictionary = torch.rand((n_terms, dim))`` created first, then
  ``attributor = Sequential(Linear(dim, n_terms), Softmax(dim=1))``, and
  ``loss = MSELoss()(x, attributions @ dictionary)``.  The seed writes
  ``Softmax()`` (implicit dim, which for 2-D input resolves to dim=1); dim=1 is
  given explicitly here to avoid the deprecation warning -- same result.
* ``seed_data`` / ``train_seed_loop``: the seed's toy data and training loop
  (Adam with defaults, full batch, zero_grad/backward/step each epoch).
* ``write_safetensors`` / ``read_safetensors``: a numpy-only safetensors
  writer and reader (no ``safetensors`` package).

Only numpy is needed for the safetensors functions; torch is imported lazily
so that the reader/writer work without it.
"""

import json
import struct

import numpy as np

# ---------------------------------------------------------------------------
# safetensors, numpy only
# ---------------------------------------------------------------------------

_DTYPES = {
    "F64": np.dtype("<f8"),
    "F32": np.dtype("<f4"),
    "F16": np.dtype("<f2"),
    "I64": np.dtype("<i8"),
    "I32": np.dtype("<i4"),
    "I16": np.dtype("<i2"),
    "I8": np.dtype("i1"),
    "U8": np.dtype("u1"),
    "BOOL": np.dtype("?"),
}
_NAMES = {v: k for k, v in _DTYPES.items()}


class SafetensorsError(ValueError):
    pass


def write_safetensors(path, tensors, metadata=None):
    """Writes ``tensors`` (name -> numpy array) to ``path``.

    Layout: 8-byte little-endian u64 header length n, n bytes of JSON header
    (padded with spaces to a multiple of 8), then the raw little-endian,
    C-order bytes of each tensor in the order given.  ``metadata`` values must
    be strings (the safetensors format requires str -> str).
    """
    header = {}
    blobs = []
    offset = 0
    for name, arr in tensors.items():
        if name == "__metadata__":
            raise SafetensorsError("tensor name __metadata__ is reserved")
        a = np.asarray(arr)
        key = next((k for k, v in _DTYPES.items() if v == a.dtype.newbyteorder("<")
                    or v == a.dtype), None)
        raw = np.ascontiguousarray(a, dtype=_DTYPES[key]).tobytes(order="C")
        header[name] = {
            "dtype": key,
            "shape": [int(s) for s in a.shape],
            "data_offsets": [offset, offset + len(raw)],
        }
        blobs.append(raw)
        offset += len(raw)
    if metadata:
        md = {}
        for k, v in metadata.items():
            if not isinstance(k, str) or not isinstance(v, str):
                raise SafetensorsError("metadata must map str to str")
            md[k] = v
        header["__metadata__"] = md
    hjson = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hjson += b" " * ((-len(hjson)) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hjson)))
        f.write(hjson)
        for raw in blobs:
            f.write(raw)


def read_safetensors(path):
    """Reads a safetensors file with numpy alone.

    Returns ``(tensors, metadata)``: an insertion-ordered dict name -> numpy
    array (native-endian copy) and a dict of the string metadata ("{}" if
    absent).  Raises ``SafetensorsError`` on a malformed file.
    """
    with open(path, "rb") as f:
        blob = f.read()
    if len(blob) < 8:
        raise SafetensorsError("%s: too short for a safetensors file" % path)
    (n,) = struct.unpack("<Q", blob[:8])
    if n > len(blob) - 8:
        raise SafetensorsError("%s: header length %d exceeds file size %d" % (path, n, len(blob)))
    try:
        header = json.loads(blob[8:8 + n].decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise SafetensorsError("%s: bad JSON header: %s" % (path, e))
    if not isinstance(header, dict):
        raise SafetensorsError("%s: header is not a JSON object" % path)
    data = blob[8 + n:]
    metadata = header.pop("__metadata__", None) or {}
    tensors = {}
    for name, info in header.items():
        try:
            dtype = info["dtype"]
            shape = [int(s) for s in info["shape"]]
            begin, end = (int(x) for x in info["data_offsets"])
        except (KeyError, TypeError, ValueError):
            raise SafetensorsError("%s: bad entry for tensor %r" % (path, name))
        if dtype not in _DTYPES:
            raise SafetensorsError("%s: unsupported dtype %s for %r" % (path, dtype, name))
        dt = _DTYPES[dtype]
        count = int(np.prod(shape)) if shape else 1
        if not (0 <= begin <= end <= len(data)):
            raise SafetensorsError("%s: offsets of %r outside the data" % (path, name))
        if end - begin != count * dt.itemsize:
            raise SafetensorsError("%s: offsets of %r inconsistent with shape %s" % (path, name, shape))
        arr = np.frombuffer(data, dtype=dt, count=count, offset=begin).reshape(shape)
        tensors[name] = arr.astype(dt.newbyteorder("="), copy=True)
    return tensors, metadata


# ---------------------------------------------------------------------------
# the seed's model, data and loop (torch imported lazily)
# ---------------------------------------------------------------------------

def _torch():
    import torch  # noqa: WPS433

    return torch


def _make_module_class():
    torch = _torch()

    class DictionaryLearning(torch.nn.Module):
        """The seed's module (behaviourally identical)."""

        def __init__(self, dim, n_terms):
            super(DictionaryLearning, self).__init__()
            self.dim = dim
            self.n_terms = n_terms
            self.dictionary = torch.nn.Parameter(
                torch.rand((n_terms, dim), dtype=torch.float, requires_grad=True))
            self.attributor = self.build_attributor()

        def build_attributor(self):
            layers = torch.nn.ModuleList()
            layers.append(torch.nn.Linear(self.dim, self.n_terms))
            # seed: torch.nn.Softmax() -- implicit dim resolves to 1 for 2-D input
            layers.append(torch.nn.Softmax(dim=1))
            return torch.nn.Sequential(*layers)

        def forward(self, x):
            return self.attributor(x)

        def loss(self, x, attributions):
            reconstruct = torch.matmul(attributions, self.dictionary)
            return torch.nn.MSELoss()(x, reconstruct)

    return DictionaryLearning


_CLASS = None


def __getattr__(name):  # PEP 562: build the torch class on first use
    global _CLASS
    if name == "DictionaryLearning":
        if _CLASS is None:
            _CLASS = _make_module_class()
        return _CLASS
    raise AttributeError(name)


STATE_KEYS = ("dictionary", "attributor.0.weight", "attributor.0.bias")


def seed_data(numpy_seed=0, n_per=1000):
    """The seed's toy data: n_per points from N([1,0], 0.01 I) then n_per from
    N([0,1], 0.01 I), drawn with numpy.random.multivariate_normal from the
    global numpy state seeded with ``numpy_seed``; float32, shape (2 n_per, 2)."""
    np.random.seed(numpy_seed)
    mn = np.random.multivariate_normal
    d1 = mn([1, 0], [[.01, 0], [0, .01]], n_per)
    d2 = mn([0, 1], [[.01, 0], [0, .01]], n_per)
    return np.ascontiguousarray(np.concatenate([d1, d2]).astype(np.float32))


def state_numpy(model):
    """The model's state_dict as float32 numpy arrays, in state_dict order."""
    return {k: v.detach().cpu().numpy().astype(np.float32, copy=True)
            for k, v in model.state_dict().items()}


def train_seed_loop(model, data, lr, epochs, record_loss=True):
    """The seed's loop: Adam(model.parameters(), lr) with defaults, full batch.

    Returns a float64 numpy array of loss.item() per epoch (the loss computed
    before that epoch's update), or None when ``record_loss`` is False.
    """
    torch = _torch()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    losses = np.empty(epochs, dtype=np.float64) if record_loss else None
    for e in range(epochs):
        attributions = model(data)
        loss = model.loss(data, attributions)

        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if record_loss:
            losses[e] = loss.item()
    return losses
