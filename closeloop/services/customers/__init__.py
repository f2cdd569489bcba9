"""The customer in the loop (issue 13): profiles and contact points, messages to the customer, erasure.

- :mod:`.profiles`: taking in what the customer told us (name, language, zone, contact points);
  ``customers forget`` (erasure of personal fields and message bodies, statistics kept, audited).
- :mod:`.notices`: rendering a message to the customer in their language (Jinja2 templates
  ``closeloop/templates/customer_<kind>.<lang>.j2``) and sending it through the outbox.
"""
