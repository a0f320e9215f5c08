// The phone's menu and contents buttons. pydata-sphinx-theme 0.17 opens its sidebar drawers
// from the first .primary-toggle and .secondary-toggle on the page, which under
// sphinx-book-theme 1.3 are header icons it hides; the buttons a reader sees were left with
// no handler. Each visible button now clicks the one the theme listens to.
document.addEventListener("DOMContentLoaded", () => {
  for (const kind of ["primary", "secondary"]) {
    const [bound, ...others] = document.querySelectorAll(`.${kind}-toggle`);
    for (const button of others) {
      button.addEventListener("click", (event) => {
        event.preventDefault();
        bound.click();
      });
    }
  }
});
