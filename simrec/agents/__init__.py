"""Agents: Mesa handles onto per-user arrays, emotional state, decision policies."""
