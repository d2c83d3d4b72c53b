"""The embedded document backend: what the `local` provider reads documents with, offline.

`reader.read` turns a document (PDF, DOCX, PPTX, XLSX, HTML, Markdown, text, CSV, JSON, images)
into an `ir.Document`; `reader.document_text` gives just its text, for any utility that needs a
document as text (summarize, translate, research). `segment` splits text by tokens on its
structure. Each format is one module; `kinds` tells which format bytes are.
"""
