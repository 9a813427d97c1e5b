"""Plain helpers shared by the tests (classes, functions, constants); the fixtures stay in
tests/conftest.py, where pytest finds them."""
