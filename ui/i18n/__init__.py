"""The page's words in English and Chinese, and the language a request asks for.

Promises: every key exists in both tables (tests check it). Imports nothing of the app.
"""
