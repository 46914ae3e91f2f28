#!/usr/bin/env python
"""Offline stand-in for ansible-test's pip bootstrap script (get-pip), which it downloads from a
host outside PyPI. Called as `python pip_bootstrap.py [pip options] pip==X [setuptools==Y ...]`:
installs pip from Python's own ensurepip wheel, then the requested packages from PyPI."""

import subprocess
import sys

GET_PIP_ONLY = {"--no-setuptools", "--no-wheel"}  # get-pip's own flags, not pip's

subprocess.run([sys.executable, "-m", "ensurepip", "--default-pip"], check=True, stdout=subprocess.DEVNULL)
args = [arg for arg in sys.argv[1:] if arg not in GET_PIP_ONLY]
sys.exit(subprocess.run([sys.executable, "-m", "pip", "install"] + args, check=False).returncode)
