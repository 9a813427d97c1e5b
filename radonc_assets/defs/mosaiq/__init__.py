"""The Mosaiq capability: RT Beams Treatment Records generated from its delivery history.

They are archived beside ARIA's and MIM's objects and validated like them.
"""
