"""Adapters to external systems and formats. Each module sits behind a small Protocol.

``exports`` and its profiles read complaint exports (CFPB, NYC 311, airline
tweets, Chinese shopping reviews, closeloop's own CSV/JSON Lines) as streams
of :class:`~closeloop.domain.facts.ComplaintFacts`. ``calendars`` builds business calendars from the
``holidays`` package; ``senders`` and ``smtp`` send the outbox (webhook, chat, e-mail); ``imap`` reads a mailbox.
"""
