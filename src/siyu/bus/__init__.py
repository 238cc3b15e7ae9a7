"""The bus: durable, at-least-once delivery of messages to consumer groups.

Embedded: a local SQLite file (``siyu.bus.sqlite``). Server: RabbitMQ (``siyu.bus.rabbitmq``).
"""
