"""Booking: the Order aggregate and its lifecycle, slots, dispatch and matching, policies, disputes."""
