"""Backends that run inside the gateway's own process, with no upstream and no network.

They exist so that a deployment without (or cut off from) an upstream provider can still serve some
endpoints: `minilm` embeds text with all-MiniLM-L6-v2 on onnxruntime. Every file such a backend
reads is installed from a package or shipped in this folder's `data/`; nothing is fetched at run
time, since the machines this runs on reach no model hub.
"""
