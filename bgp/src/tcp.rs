//! A small reliable byte stream (TCP) between simulated peers, sans-IO.
