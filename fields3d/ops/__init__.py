"""Python side of the compiled kernels in ``cuda_ext/``: torch twins (the specification), autograd
wrappers of the kernels, and backend dispatch.  See ``availability`` for what is usable here."""
