"""The images of the project, with or without conversations: a thumbnail, the image's name and
how many conversations it has. A new conversation starts from the current image, drafting from
every selected one (Ctrl/Shift-click); a double click lists the image's conversations."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from annotator.core.listing import ImageSummary
from annotator.ui.icons import Icons
from annotator.ui.record_list import ThumbnailCache

THUMB = 56
_ROLE = Qt.ItemDataRole.UserRole


class ImageBrowser(QWidget):
    addRequested = Signal()
    newConversation = Signal(object)  # ImageSummary
    showConversations = Signal(object)  # ImageSummary

    def __init__(
        self,
        thumbnails: ThumbnailCache,
        load: Callable[[], list[ImageSummary]],
        locate: Callable[[ImageSummary], str],
        icons: Icons,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._thumbnails = thumbnails
        self._load = load
        self._locate = locate
        self._on_screen = False  # its dock's tab is the one shown (see set_on_screen)
        self._stale = True  # the images changed while the list was not on screen
        self._paths: dict[str, QListWidgetItem] = {}
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 6)
        buttons = QHBoxLayout()
        self.add_button = QPushButton(icons.get("mdi6.image-plus"), "Add images…")
        self.add_button.setToolTip("Add the images of a folder (Ctrl+Shift+I)")
        self.add_button.clicked.connect(self.addRequested)
        self.new_button = QPushButton(icons.get("mdi6.chat-plus-outline"), "New conversation")
        self.new_button.setToolTip("Write a conversation on the selected image (Ctrl+Shift+N)")
        self.new_button.clicked.connect(self._new)
        for button in (self.add_button, self.new_button):
            # The dock shares its width with the record list, which may be narrow.
            button.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
            button.setMinimumWidth(40)
            buttons.addWidget(button)
        lay.addLayout(buttons)
        self.list = QListWidget()
        self.list.setIconSize(QSize(THUMB, THUMB))
        self.list.setUniformItemSizes(True)
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.list.itemDoubleClicked.connect(
            lambda item: self.showConversations.emit(item.data(_ROLE))
        )
        self.list.currentItemChanged.connect(lambda *_: self._enable())
        # Thumbnails of the rows in view only: a project may hold tens of thousands of images.
        self.list.verticalScrollBar().valueChanged.connect(lambda _v: self._load_visible())
        lay.addWidget(self.list, 1)
        self.count = QLabel()
        self.count.setWordWrap(True)
        self.count.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        lay.addWidget(self.count)
        thumbnails.ready.connect(self._thumbnail_ready)
        self._enable()

    def reload(self) -> None:
        """Read the images anew: now when the list is on screen, else when it is next shown
        (a large project's images take a noticeable time to read and list, and the list
        usually waits behind the records tab)."""
        self._stale = not self._on_screen
        if self._on_screen:
            self.show_images(self._load())

    def set_on_screen(self, shown: bool) -> None:
        """Its dock was shown or hidden, or its tab chosen or left (a widget in a tab behind
        another still counts as visible to Qt: the dock's signal says which tab is shown)."""
        self._on_screen = shown
        if shown and self._stale:
            self.reload()

    def show_images(self, images: list[ImageSummary]) -> None:
        chosen = self.selected()
        self.list.clear()
        self._paths.clear()
        for im in images:
            item = QListWidgetItem(
                f"{im.path}\n{im.conversations} conversation(s) · {im.width}×{im.height}"
            )
            item.setData(_ROLE, im)
            item.setToolTip(f"{im.root}/{im.path}\nsha256 {im.sha256}")
            self.list.addItem(item)
            if chosen is not None and im.id == chosen.id:
                self.list.setCurrentItem(item)
        without = sum(1 for im in images if im.conversations == 0)
        self.count.setText(f"{len(images)} image(s), {without} without a conversation")
        self._enable()
        self._load_visible()

    def _load_visible(self) -> None:
        first = self.list.indexAt(self.list.viewport().rect().topLeft()).row()
        last = self.list.indexAt(self.list.viewport().rect().bottomLeft()).row()
        if first < 0:
            return
        last = self.list.count() - 1 if last < 0 else last
        for row in range(first, last + 1):
            item = self.list.item(row)
            if not item.icon().isNull():
                continue
            path = self._locate(item.data(_ROLE))
            self._paths[path] = item
            pix = self._thumbnails.get(path)
            if pix is not None:
                item.setIcon(pix)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._load_visible()

    def selected(self) -> ImageSummary | None:
        item = self.list.currentItem()
        return item.data(_ROLE) if item is not None else None

    def selected_images(self) -> list[ImageSummary]:
        """Every selected image, in list order (Draft conversations… works on them all)."""
        rows = sorted(self.list.row(item) for item in self.list.selectedItems())
        return [self.list.item(row).data(_ROLE) for row in rows]

    def select_image(self, image_id: int) -> None:
        for row in range(self.list.count()):
            if self.list.item(row).data(_ROLE).id == image_id:
                self.list.setCurrentRow(row)
                return

    def _new(self) -> None:
        image = self.selected()
        if image is not None:
            self.newConversation.emit(image)

    def _enable(self) -> None:
        self.new_button.setEnabled(self.selected() is not None)

    def _thumbnail_ready(self, path: str) -> None:
        item = self._paths.get(path)
        pix = self._thumbnails.get(path)
        if item is not None and pix is not None:
            item.setIcon(pix)
