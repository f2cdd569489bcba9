"""Read models: lists, queues, the overview, search, figures, health and exports. No writes but saved views."""
