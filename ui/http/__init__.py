"""The app's HTTP face besides the page: the /reason API and its checks, plain HTTP, MCP, health
and readiness, the body limit, the content-security policy, and the one installer that puts the
routes and an ordered middleware list onto Gradio's app.

Imports everything below it in `ui` (i18n, store, render, serving); never `ui.page`.
"""
