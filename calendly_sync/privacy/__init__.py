"""Personal data: erasing a person on request (``erasure``), keeping the rest only as long as needed (``retention``)."""
