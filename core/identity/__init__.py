"""Identity: users, their roles and status, and the chat accounts that reach them."""
