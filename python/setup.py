"""A wheel of the Python package, built offline with Debian's own tools.

    cd python && /usr/bin/python3 -m pip wheel --no-build-isolation --no-deps -w dist .

(setuptools and wheel from apt: python3-setuptools, python3-wheel; nothing is
downloaded). The extension module is built by CMake from the repository
(the library, then dictlearn._core for the interpreter running this script)
in build/cmake-python/, or taken from an existing CMake build configured with
-DDICTLEARN_BUILD_PYTHON=ON when DICTLEARN_CMAKE_BUILD_DIR names it (the
tests do this). The distribution is named dictlearn-cpp: PyPI's "dictlearn"
is an unrelated project. The import name is dictlearn.
"""

import glob
import os
import shutil
import subprocess
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


class CMakeBuild(build_ext):
    """Builds dictlearn._core with the project's CMake and copies it in."""

    def build_extension(self, ext):
        build = os.environ.get("DICTLEARN_CMAKE_BUILD_DIR")
        if not build:
            build = os.path.join(HERE, "build", "cmake-python")
            subprocess.run(["cmake", "-S", ROOT, "-B", build, "-DCMAKE_BUILD_TYPE=Release",
                            "-DDICTLEARN_BUILD_PYTHON=ON", "-DDICTLEARN_BUILD_TESTS=OFF",
                            "-DDICTLEARN_BUILD_CLI=OFF", "-DDICTLEARN_BUILD_BENCH=OFF",
                            f"-DPython_EXECUTABLE={sys.executable}"], check=True)
        subprocess.run(["cmake", "--build", build, "--target", "dictlearn_python", "-j",
                        str(os.cpu_count() or 1)], check=True)
        built = glob.glob(os.path.join(build, "python", "dictlearn", "_core*.so"))
        if len(built) != 1:
            raise RuntimeError(f"{build}: expected one built dictlearn/_core*.so, found {built}")
        target = self.get_ext_fullpath(ext.name)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copyfile(built[0], target)


setup(
    name="dictlearn-cpp",
    version="0.1.0",
    description="Dictionary learning and sparse coding (OMP, LARS, lasso, online DL, K-SVD, "
                "sparse autoencoders) with scikit-learn's API over a C++ core",
    packages=["dictlearn"],
    package_dir={"dictlearn": "dictlearn"},
    ext_modules=[Extension("dictlearn._core", sources=[])],
    cmdclass={"build_ext": CMakeBuild},
    python_requires=">=3.9",
    install_requires=["numpy", "scipy", "scikit-learn"],
    license="see the repository",
    zip_safe=False,
)
