"""`yueban demo`: the whole platform on one machine, chatting in a browser.

`world` seeds the demo world through the core's commands, `server` runs the page, the local
Bot API stand-in, the bot and the sweeper, `walkthrough` plays the whole journey in the
page, `files` keeps the stand-in's files between runs and `avatars` draws the pictures.
"""
