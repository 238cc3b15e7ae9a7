"""Assist / bargain (助力/砍价): campaigns, bargains started by a customer, cuts by other people."""
