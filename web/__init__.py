"""Yiyang web: the Simplified Chinese, elder-friendly pages. Talks to the services over HTTP only."""
