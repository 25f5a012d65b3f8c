"""Agents: plain classes and functions over the model and prover protocols (no LangGraph here)."""
