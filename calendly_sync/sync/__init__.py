"""The core of the sync: observations, the reducer, the field mapping, automation facts and the contact projection."""
