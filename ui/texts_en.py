"""Every visible English string of the page, by key (ui/texts_zh.py has the same keys)."""

EN_TEXTS: dict[str, str] = {
    # header
    "title": "Skywork R1V · visual reasoning demo",
    "intro": ("Add one or more images (drop, paste or attach), ask a question and watch the model think "
              "before it answers. The reasoning trace folds away a moment after the answer starts."),
    "tiny_banner": ("⚠️ **This is a tiny demo model trained on synthetic puzzles, not Skywork R1V.** It only "
                    "knows four kinds of puzzle (counting shapes, the tallest or shortest bar, adding dice, "
                    "the odd one out); on anything else its answers are meaningless."),
    "language": "Language",
    "status.model": "**Model:** {name}",
    "status.ready": "**Model:** {name}{where} · ready",
    "status.where": " on {device}",
    "status.loading": "**Model:** {name} · ⏳ loading — {progress}",
    "status.failed": "**Model:** {name} · ⚠️ {error}",
    "model.still_loading": "The model is still loading ({progress}). Please send again in a moment.",
    # chat
    "tab.chat": "Chat",
    "chat.label": "Conversation",
    "chat.placeholder": "Pick an example below or add an image and ask a question.",
    "box.placeholder": "Ask about your images… (Enter sends, Shift+Enter for a new line)",
    "button.send": "Send",
    "button.stop": "Stop",
    "button.regenerate": "Regenerate",
    "button.undo": "Undo last turn",
    "button.clear": "Clear",
    "examples.label": "Examples (click one, then Send)",
    # the page's layout and accessible names (assets/page.js sets the aria-* ones)
    "note.no_gpu": "No GPU was found, so the bundled tiny model is served.",
    "note.gpus": "Chosen for {count} GPU(s) with {gib} GiB in all.",
    "button.settings": "Go to settings",
    "aria.reset": "Reset {label} to its default",
    "aria.export_markdown": "Download the conversation as Markdown",
    "aria.export_html": "Download the conversation as HTML",
    "aria.example": "Example: {text}",
    # settings
    "settings.title": "### Settings",
    "thinking_budget.label": "Thinking budget (tokens)",
    "thinking_budget.info": "Most tokens the model may think before it must answer.",
    "no_limit.label": "No limit on thinking",
    "answer_budget.label": "Answer budget (tokens)",
    "temperature.label": "Temperature",
    "temperature.info": "0 = greedy",
    "top_p.label": "Top-p",
    "advanced.label": "Advanced",
    "top_k.label": "Top-k",
    "top_k.info": "0 = off",
    "repetition_penalty.label": "Repetition penalty",
    "max_tiles.label": "Max tiles per image",
    "max_tiles.info": "More tiles: finer detail, more memory",
    "seed.label": "Seed",
    "seed.info": "-1 = random; the seed used is shown after each answer",
    "export.title": "### Export",
    "export.markdown": "Markdown",
    "export.html": "HTML",
    # messages
    "warn.no_question": "Please type a question (and add an image if it is about one).",
    "warn.nothing_to_regenerate": "There is no answer to regenerate yet.",
    "warn.still_answering_last": "Still answering the last question: press Stop first.",
    "warn.still_answering": "Still answering: press Stop first.",
    "warn.could_not_answer": "Could not answer",
    "warn.please_wait": "Please wait",
    "error.rate_limited": ("Too many questions from your address: the limit is {limit} per minute. "
                           "Please try again in {wait} s."),
    "error.internal": "Something went wrong while answering. The demo is still running; please try again.",
    "error.upload_only": "Each image must be a file uploaded with the request (gradio_client.handle_file).",
    "error.not_uploaded": "Image {name!r} was not uploaded with the request.",
    # settings refused (model/events.py)
    "option.unknown": "Unknown setting(s): {names}.",
    "option.range": "{setting_label} must be between {low} and {high}; got {value}.",
    "option.not_number": "{setting_label} must be a number; got {value}.",
    "option.not_finite": "{setting_label} must be a finite number; got {value}.",
    "option.not_whole": "{setting_label} must be a whole number; got {value}.",
    "setting.thinking_budget": "Thinking budget",
    "setting.answer_budget": "Answer budget",
    "setting.min_thinking": "Min thinking",
    "setting.temperature": "Temperature",
    "setting.top_p": "Top p",
    "setting.top_k": "Top k",
    "setting.repetition_penalty": "Repetition penalty",
    "setting.seed": "Seed",
    "setting.max_tiles": "Max tiles",
    "error.url_refused": "The image at {url} could not be fetched: only public http(s) addresses and data: URLs are accepted.",
    # the /reason endpoint and HTTP clients (ui/api.py, ui/uploads.py, ui/health.py)
    "error.no_path": ('Each image must be {{"path": ...}}: a file uploaded with the request, a public http(s) URL '
                      'or a data: URL; this item names none (its fields: {got}).'),
    "error.url_private": ("The image at {url} is on a local or private network address, which is never fetched: "
                          "send a public http(s) URL, a data: URL or an uploaded file."),
    "error.data_url_invalid": "This data: URL is not a valid base64-encoded image (expected data:image/png;base64,...).",
    "api.waiting_for_load": "Waiting for the model to load: {progress}",
    "api.load_timeout": "The model did not finish loading within {seconds} s ({progress}). Please try again later.",
    "api.history_not_list": "history must be a list of earlier turns; got {got}.",
    "api.history_item": ('history item {number} must be a [question, answer] pair or {{"question": ..., '
                         '"answer": ...}}; got {got}.'),
    "api.missing_keys": "/{api_name} needs a value for {missing} (the parameters without a default).",
    "api.unknown_keys": "/{api_name} has no parameter {unknown}; its parameters are: {names}.",
    "api.missing_values": ("/{api_name} takes up to {expected} values in this order: {names}; got {got}. Missing: "
                           "{missing}, which have no default. Values left out at the end take their defaults; "
                           "or POST a JSON object of the ones you set to /gradio_api/call/v2/{api_name}."),
    # scripts and agents (ui/uploads.py data: URLs, ui/mcp_tool.py)
    "mcp.size_limit": ("Each image may be at most {file_mb} MiB, and a request at most {mb} MiB in all (images "
                       "as data: URLs take 4/3 of their size); for more, give images by https: URL."),
    "error.mcp_too_large": ("The request is {size} MiB; the limit is {limit} MiB in all (images as data: URLs take "
                            "4/3 of their size). Send smaller or fewer images, or give them by https: URL."),
    # request bodies (ui/bodylimit.py)
    "error.bad_content_length": ("The Content-Length header must be one whole number of bytes; got “{value}”. "
                                 "Nothing of the body was read."),
    "error.body_too_large": "The request body is larger than {limit} MB, the limit {what}; it was not read.",
    "error.body_limit_call": ("of a plain HTTP call (its values and images as data: URLs); upload larger images "
                              "first (POST /gradio_api/upload) or give them by https: URL"),
    "error.body_limit_event": "of the page's events and queue calls (the history kept in the browser stays under 2 MB)",
    # budget sweep (ui/sweep.py) and its tab
    "tab.sweep": "Budget sweep",
    "sweep.intro": ("The same image and question, answered at several thinking budgets one after another "
                    "(with the sampling settings on the right and one seed for every run)."),
    "sweep.image": "Image",
    "sweep.question": "Question",
    "sweep.budgets": "Thinking budgets",
    "sweep.budgets.info": "Comma-separated; 1k = 1024; “no limit” lets the model think as long as it wants.",
    "sweep.run": "Run sweep",
    "sweep.table": "Results",
    "sweep.plot": "Thinking against budget",
    "sweep.idle": "Pick an image, ask a question and run the sweep.",
    "sweep.no_limit": "no limit",
    "sweep.empty": "Enter at least one thinking budget, e.g. “0, 256, 1k, no limit”.",
    "sweep.bad_entry": "“{entry}” is not a thinking budget: use whole numbers from 0 to {max:,} (1k = 1024) or “no limit”.",
    "sweep.too_many": "A sweep takes at most {max_count} budgets; got {count}.",
    "sweep.header_budget": "Thinking budget",
    "sweep.header_thinking": "Own thinking tokens",
    "sweep.header_forced": "Forced closing tokens",
    "sweep.header_answer_tokens": "Answer tokens",
    "sweep.header_seconds": "Seconds",
    "sweep.header_ended": "Ended",
    "sweep.header_agreement": "Same answer as the largest budget?",
    "sweep.header_answer": "Answer",
    "sweep.plot_title": "Thinking budget sweep",
    "sweep.axis_budget": "Thinking budget",
    "sweep.axis_thinking": "Own thinking tokens",
    "sweep.axis_seconds": "Seconds",
    "sweep.budget_cap": "budget (forced closing not counted)",
    "sweep.progress_running": "Budget {budget} ({number} of {total}): {tokens} thinking tokens so far…",
    "sweep.progress_done": "Done: {count} budgets answered.",
    "sweep.progress_stopped": "Stopped after {count} of {total} budgets.",
    "sweep.agree.reference": "reference (largest budget)",
    "sweep.agree.agrees": "same answer",
    "sweep.agree.differs": "different answer",
    "sweep.agree.no_answer": "no final answer",
    # what the model saw (ui/tiling_view.py)
    "tiles.title": "What the model sees",
    "tiles.empty": "Add an image to see the tiles the model will cut it into.",
    "tiles.thumbnail": "thumbnail",
    "tiles.grid": "**{columns} × {rows}** tiles of {tile_size} px",
    "tiles.plus_thumbnail": " + thumbnail",
    "tiles.totals": " = **{tile_count}** · **{tokens:,} image tokens** ({per_tile} per tile) · image {width}×{height} px",
    "tiles.one_tile": "1 tile",
    "tiles.tiles": "{count} tiles",
    # refusals from the model package (English comes from the model's own message)
    "limit.file_size": "{name} is {size} MiB; the limit is {limit} MiB per file.",
    "limit.images": "This conversation would hold {count} images; the limit is {limit}.",
    "limit.question_chars": "The question is {count:,} characters long; the limit is {limit:,}.",
    "limit.question_tokens": "The question is {count:,} tokens long; the limit is {limit:,} tokens. Please shorten it.",
    "limit.turns": "This conversation has {count} earlier turns; the limit is {limit}. Press Clear to start a new one.",
    "limit.prompt_tokens": ("The prompt is {count:,} tokens (images included); the limit is {limit:,}. "
                            "Use fewer tiles, fewer images or a shorter question."),
    "limit.context": ("The prompt ({prompt:,} tokens, images included) plus the answer budget ({budget:,} tokens) "
                      "is {needed:,} tokens; the limit is the model's context of {context:,} tokens. Lower the "
                      "answer budget to at most {room:,} tokens, use fewer tiles or images, or start a new "
                      "conversation."),
    "limit.conversation_full": ("This conversation is full: its prompt is {prompt:,} of the model's {context:,} "
                                "tokens of context, leaving {room:,}; an answer needs {needed:,} (the answer budget "
                                "and {thinking} tokens to think). Press Clear to start a new conversation."),
    "chat.full": ("**This conversation is full**: a next question would leave the model less than the {needed:,} "
                  "tokens an answer needs of its {context:,}-token context. Press **Clear** to start a new one."),
    "settings.keep_thinking_open": "Keep thinking open",
    "settings.keep_thinking_open.info": "Leave each trace unfolded after the answer (for reading it aloud).",
    "image.unreadable_file": "{name} could not be read ({reason}).",
    "image.empty": "{name} is not a readable image: the file is empty (0 bytes).",
    "image.unreadable": "{name} is not a readable image. Supported formats: {formats}.",
    "image.damaged": "{name} is not a readable image: its data is damaged or cut short.",
    "image.bomb": ("{name} declares more than {declared} megapixels (a possible decompression bomb); "
                   "the limit is {limit} megapixels."),
    "image.bomb_decoded": "{name} is too large to decode safely; the limit is {limit} megapixels.",
    "image.too_many_pixels": "{name} is {width}×{height} pixels ({megapixels} megapixels); the limit is {limit} megapixels.",
    "image.too_long": "{name} is {width}×{height} pixels; the limit is {limit} pixels on the longer side.",
    "image.too_thin": "{name} is {width}×{height} pixels; the shorter side must be at least {limit} pixels.",
    "engine.oom": ("The GPU ran out of memory for this question. Try fewer tiles per image (now up to "
                   "{max_tiles}), fewer images, or smaller thinking and answer budgets."),
    "engine.failed": "The model failed while answering ({error}). The demo is still running; please try again.",
    "engine.ended": "The generation ended unexpectedly.",
    "remote.timeout": "The model server at {endpoint} did not answer within {seconds} s; it may be busy. Please try again.",
    "remote.dropped": "The model server at {endpoint} closed the connection in the middle of the answer ({cause}). Please try again.",
    "remote.unreachable": "The model server at {endpoint} is not reachable ({cause}). Is it running, and is the endpoint right?",
    "load.compiling": "Compiling the decoding step ({index} of {count}, {tokens} tokens of context); this happens once per start…",
    "load.starting": "Starting…",
    "load.downloading": "Downloading {source} (first run only; cached afterwards)…",
    "load.loading": "Loading {name} ({layout} format) onto {device}…",
    "load.ready": "{name} is ready on {device}.",
    "load.remote": "Answering through {endpoint}.",
    "load.failed": "The model could not be loaded: {error}",
    # live status and titles
    "status.waiting": "Waiting for the model…",
    "status.queue": "The model is busy: you are number {ahead} in the queue.",
    "live.thinking": "*Thinking · {tokens}{rate}*",
    "live.answering": "*Answering · {tokens}{rate}*",
    "live.rate": " · {rate:.1f} tokens/s",
    "tokens.one": "1 token",
    "tokens.many": "{count:,} tokens",
    "seconds.short": "{seconds:.1f} s",
    "seconds.long": "{seconds:,.0f} s",
    "title.thinking": "Thinking… {seconds} · {tokens}",
    "title.thought": "Thought for {seconds} · {tokens}",
    "title.budget_reached": " · thinking budget reached",
    "finish.answered": "Answered",
    "finish.budget_then_answered": "Answered after the thinking budget ran out",
    "finish.answer_budget": "Answer cut off: answer budget used up",
    "finish.thinking_unfinished": "Ran out of tokens while thinking",
    "finish.stopped": "Stopped",
    "finish.timeout": "Stopped: time limit reached",
    "finish.error": "Failed",
    "note.answer_budget": "*(answer cut off: the answer budget was used up)*",
    "note.thinking_unfinished": "*(ran out of tokens before answering)*",
    "note.stopped": "*(stopped)*",
    "note.timeout": "*(stopped: time limit reached)*",
    "stats.first_token": "first token after {seconds:.2f} s",
    "stats.thinking": "thinking {tokens}",
    "stats.answer": "answer {tokens}",
    "stats.speed": "{rate:.1f} tokens/s",
    "stats.total": "{seconds} in all",
    "stats.tiles": "tiles per image {tiles}",
    "stats.seed": "seed {seed}",
    # PDF documents and the formats phones save (model/documents.py, model/inputs.py, ui/tiling_view.py)
    "tiles.pdf_pages": "{name}: pages {pages} of {count}",
    "tiles.page": "page {number}",
    "tiles.page_of": "page {number} of {count}",
    "pdf.bad_selection": '{name}: "{selection}" is not a page choice; write pages like 1-3 or 1,4,6.',
    "pdf.no_such_page": "{name} has {count} pages; there is no page {page}.",
    "pdf.no_pages": "{name} is a PDF document without pages.",
    "pdf.password": "{name} is a password-protected PDF; please upload it without a password.",
    "pdf.damaged": "{name} is not a readable PDF document: its data is damaged or cut short.",
    "pdf.page_no_size": "Page {page} of {name} has no size.",
    "pdf.page_damaged": "Page {page} of {name} could not be drawn: its data is damaged.",
    "limit.pdf_pages": "{count} pages of {name} were chosen; the limit is {limit} pages per PDF.",
    "limit.pdf_size": "{name} is a {size} MiB PDF; the limit is {limit} MiB per PDF.",
    "limit.images_pages": "This conversation would hold {count} images (each PDF page is one); the limit is {limit}.",
    "image.damaged_container": "{name} is not a readable image: its {kind} data is damaged or cut short.",
    "limit.images_full": ("This conversation already holds {count} images; the limit is {limit}, so no page of "
                          "{name} can be added."),
    # side by side (ui/compare.py)
    "tab.compare": "Compare",
    "compare.intro": ("One image and question, answered two ways: set each column's thinking budget and "
                      "temperature; both use one seed. A model loaded here answers one question at a "
                      "time, so B starts when A ends; behind a model server both run at once."),
    "compare.intro_backends": ("One image and question, answered by two backends at once: A by this page's "
                               "model, B by the second backend; each column may change its thinking budget "
                               "and temperature."),
    "compare.image": "Image",
    "compare.question": "Question",
    "compare.seed": "Seed (both columns)",
    "compare.run": "Answer both",
    "compare.title_a": "### A",
    "compare.title_b": "### B",
    "compare.title_b_backend": "### B · second backend",
    "compare.waits": "Waits for A to finish: one model answers one question at a time.",
    "compare.column_note": "**{name}** · thinking budget {budget} · temperature {temperature:g}",
    "compare.agree": "**The answers agree** (same text, ignoring case, spacing and final punctuation).",
    "compare.differ": "**The answers differ.**",
    "compare.no_compare": "Nothing to compare: at least one column has no final answer (stopped, failed or cut off).",
    # history and share links
    "history.title": "### Conversations",
    "history.new": "New conversation",
    "history.list": "Past conversations",
    "history.delete": "Delete this conversation",
    "history.note": ("Kept in this browser only, not on the server; the oldest are dropped first "
                     "when the list is full."),
    "history.answering": " · answering…",
    "history.untitled": "(images only)",
    "history.image_gone": "🖼️ *image no longer available*",
    "history.as_text": "*The last time this page opened, it did not finish drawing this conversation, so it is shown as plain text. Start a new conversation from the list on the left, or delete this one there.*",
    "history.interrupted": ("*This answer was interrupted: the page was reloaded or closed while it ran. "
                            "The question is back in the box; send it again.*"),
    "share.title": "### Share",
    "share.button": "Share the last answer",
    "share.done": ("**Link to this answer** (a read-only replay, kept {days} days):\n\n[{link}]({link})\n\n"
                   "**Delete link**, shown only now; keep it to remove the answer later:\n\n`{delete}`"),
    "share.off": "Share links are turned off on this server.",
    "share.unsigned": ("This answer cannot be shared: it is not as this server streamed it (the history kept in "
                       "the browser was changed, or it was saved before answers were signed)."),
    "share.image_gone": "This answer cannot be shared: one of its images is no longer on the server.",
    "share.hourly": ("You have shared {count} answers in the last hour, the most one address may; please try again "
                     "in {minutes} min."),
    "share.visitor_full": ("Your address already holds {count} shared answers, the most one address may keep; delete "
                           "one with its delete link or wait until they expire ({days} days)."),
    "share.full": ("The server keeps at most {count} shared answers ({mb} MB) and is full; links expire after {days} "
                   "days. Please try again later."),
    "share.nothing": "There is no finished answer to share yet.",
    "share.failed": "The answer could not be saved for sharing (a disk error on the server). Please try again.",
    "share.too_large": "This answer is too large to share ({size:.1f} MB; the limit is {limit:.0f} MB).",
    "replay.label": "Shared answer",
    "replay.head": "### Shared answer\n**Model:** {model} · shared {date}\n\n**Settings:** {settings}",
    "replay.at_once": "Show at once",
    "replay.again": "Replay",
    "replay.delete": "Delete this shared answer",
    "replay.deleted": "### Shared answer deleted\nThis link no longer opens anything.",
    "replay.delete_refused": "The delete link does not match this shared answer; nothing was deleted.",
    "replay.not_found": ("### Shared answer not found\nThis link is wrong, has expired (shared answers are kept "
                         "{days} days) or was deleted."),
    "replay.off": "### Shared answer not found\nShare links are turned off on this server.",
    "replay.no_limit": "no limit",
    # the Evaluate tab (ui/evaluate_view.py)
    "tab.evaluate": "Evaluate",
    "eval.intro": ("Answer a small set under the settings on the right, each answer scored as it comes: the "
                   "built-in puzzles, or your own JSON Lines file (question, answer, optional choices, the "
                   "image embedded as base64 bytes). Click a row to open its trace."),
    "eval.file": "Question file (leave empty for the built-in puzzles)",
    "eval.items": "Items",
    "eval.run": "Run evaluation",
    "eval.trace": "Item trace",
    "eval.col.id": "Item",
    "eval.col.subject": "Subject",
    "eval.col.gold": "Gold",
    "eval.col.answer": "Answer",
    "eval.col.right": "Right",
    "eval.started": "Answering {total} items…",
    "eval.progress": "{done} of {total} done · accuracy {accuracy} % ({right} right, {rule} rule)",
    "eval.too_many": "Items must be between 1 and {max}.",
    "eval.thinking_title": "Thinking · {tokens} tokens",
    "eval.compare": ("Against the last run, on the {n} items both answered: {then} % then, {now} % now; "
                     "{changed} verdicts changed ({settings})."),
    "eval.same_settings": "same settings",
    # /reason calls checked before the engine (ui/api_checks.py), worded for the client that sent them
    "api.question_type": "question must be text (a JSON string); got {got}.",
    "api.question_invalid": ("question is not valid text: character {position} is half of a UTF-16 surrogate pair "
                             "on its own, which no text encoding can hold."),
    "api.history_text_invalid": ("history item {number} is not valid text: character {position} is half of a "
                                 "UTF-16 surrogate pair on its own."),
    "api.images_not_list": "images must be a list of files or URLs (it may be empty); got {got}.",
    "api.history_image": "history item {number}, image {image}",
    "api.min_thinking_above_budget": ("min_thinking ({min_thinking}) is more than thinking_budget ({budget}), so "
                                      "the thinking could not end within its budget. Set min_thinking to at most "
                                      "{budget}, or thinking_budget to -1 (no limit)."),
    "api.too_many_values": ("/{api_name} takes at most {expected} values in this order: {names}; got {got}. "
                            "Nothing comes after {last}."),
    "advice.python": "Send files with gradio_client.handle_file(path).",
    "advice.js": "Send files with handle_file(...) from @gradio/client.",
    "advice.http": ('Upload a file first (POST /gradio_api/upload) and send the path it returns as {"path": ..., '
                    '"meta": {"_type": "gradio.FileData"}}; or send a public https: URL or a data: URL.'),
    "advice.mcp": "Send images as data: URLs (data:image/png;base64,...) or public https: URLs.",
    "limit.conversation_full.api": ("conversation is full: the prompt (history and images included) is {prompt:,} "
                                    "tokens of the model's {context:,}-token context, leaving {room:,}; an answer "
                                    "needs {needed:,} (answer_budget {budget:,} + {thinking} to think). Send fewer "
                                    "history turns or images, a smaller answer_budget, or an empty history."),
    "limit.turns.api": "history holds {count} earlier turns; the limit is {limit}. Send at most the {limit} latest.",
    "warn.no_question.api": "question is empty: send the question as text.",
    "error.url_unreachable": ("The image at {url} could not be fetched: the name does not resolve or its server did "
                              "not send the image. Check the URL, or send the image as a data: URL or an upload."),
}
