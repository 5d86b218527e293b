"""The account domain, with no HTTP in it: the blueprints (auth, account, admin) are thin layers over it.

registration: sign up, confirm, sign in, forgotten password · tokens: mailed links and the 6-digit code ·
passwords: hashing and the common-password list · sessions: logins that end · actions: what /account changes.
Each function commits its rows, then wakes the mail worker (app.outbox).
"""
