"""The WeChat official-account adapter: webhook edge, outbound API client and local stand-in.

`webhook` receives WeChat's pushes (plaintext, compatible and safe modes), `client` calls the
WeChat API off the event loop, `tokens`, `windows` and `dedup` hold the state those two share
across workers, `menu` validates custom menus, and `standin` is a local WeChat for tests.
"""
