"""DOUBLE of MaixPy's maix package (see ../../README.md): only what Kiln's
MaixPy test program uses, with MaixPy's names and signatures."""
