"""A small page-decision reply schema shared by the LLM integration tests."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

Position = Annotated[int, Field(ge=1, le=5)]


class Rating(BaseModel):
    item: Position
    stars: Annotated[int, Field(ge=1, le=5)]


class PageDecision(BaseModel):
    watch: list[Position] = Field(max_length=5)
    ratings: list[Rating] = Field(max_length=5)
    leave: bool
