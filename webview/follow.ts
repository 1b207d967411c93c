// The view follows new cards while the user is at the bottom; once they scroll up to read, it
// stays where they are and offers "Jump to latest" instead.
import { el, icon } from "./dom";

/** How close to the bottom still counts as at the bottom (a card's padding, rounding). */
const SLACK = 48;

export class Follower {
  readonly button = el("button", { id: "jump-latest", class: "secondary", hidden: "", title: "Scroll to the newest margin" }, icon("arrow-down"), " Jump to latest");
  private following = true;
  /** Where this code last scrolled to: a scroll above it is the user's. */
  private autoTop = 0;

  constructor(private readonly scroller: Element = document.scrollingElement ?? document.documentElement) {
    // A scroll event comes a frame after the scroll, when more may have streamed in below: being
    // short of the bottom then says nothing. Moving up from where this code put the view does.
    window.addEventListener("scroll", () => {
      if (this.atBottom()) {
        this.following = true;
        this.button.hidden = true;
      } else if (this.scroller.scrollTop < this.autoTop - 2) {
        this.following = false;
      }
    }, { passive: true });
    this.button.addEventListener("click", () => {
      this.following = true;
      this.button.hidden = true;
      this.toBottom();
    });
  }

  get isFollowing(): boolean {
    return this.following;
  }

  /** Something was added at the end: follow it, or say there is more below. */
  added(): void {
    if (this.following) this.toBottomSoon();
    else this.button.hidden = false;
  }

  /** A new question: follow again. */
  reset(): void {
    this.autoTop = 0;
    this.following = true;
    this.button.hidden = true;
  }

  private atBottom(): boolean {
    return this.scroller.scrollHeight - this.scroller.scrollTop - this.scroller.clientHeight <= SLACK;
  }

  private toBottom(): void {
    this.scroller.scrollTop = this.scroller.scrollHeight;
    this.autoTop = this.scroller.scrollTop;
  }

  private frame = 0;
  /**
   * Once a frame at most: reading scrollHeight lays the page out, and a margin streams a token at
   * a time (a replay of a finished run sends thousands at once). Whether to follow is decided when
   * the frame comes, so a scroll up in between wins.
   */
  private toBottomSoon(): void {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      if (this.following) this.toBottom();
    });
  }
}
