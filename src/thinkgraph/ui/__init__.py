"""The chat interface: a local web app (``thinkgraph serve``) and a terminal chat (``thinkgraph chat``).

Both render typed trace events, so every workflow — built-in, YAML, or registered later — shows its
steps, model calls, tool calls, search trees and evidence without changes here.  The web app's
dependencies are the ``ui`` extra (``pip install 'thinkgraph[ui]'``), imported only when it starts.
"""
