"""Lifecycle mechanisms: verification and appeal, point repair, the points mall, period close."""
