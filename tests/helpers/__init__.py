"""Helpers for geventio's tests: real peers (Node, Chromium) and throwaway servers.

Import them as ``from helpers.browser import run_pages`` (pytest puts tests/ on sys.path).
"""
import os

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NODE_MODULES = os.path.join(REPO_ROOT, "node_modules")
